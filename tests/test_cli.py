"""The command line, run as a user would run it, in a separate process."""

import json
import os
import shutil
import subprocess
import sys

from .conftest import CORPUS, ROOT


def run(*args, cwd, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_ask_json_builds_the_index_on_first_use(tmp_path):
    shutil.copytree(CORPUS, tmp_path / "corpus")
    result = run("ask", "Vad gjorde Gladsaxe med jobbpakker?", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index" / "CURRENT").is_file()
    payload = json.loads(result.stdout)
    assert set(payload) >= {"question", "answer", "abstained", "passages", "citations"}
    assert payload["abstained"] is False
    passage = payload["passages"][0]
    assert set(passage) >= {"n", "source", "title", "page", "text", "score"}
    citation = payload["citations"][0]
    assert set(citation) >= {"n", "source", "title", "page", "text", "quote", "supported"}
    assert any(c["source"] == "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt"
               and "12 stycken jobbpakker" in c["text"] for c in payload["citations"])

    index = run("index", "--json", cwd=tmp_path)
    report = json.loads(index.stdout)
    assert report["embedded_chunks"] == 0 and report["unchanged"] == 5


def test_errors_are_one_clear_line(tmp_path):
    result = run("ask", "Fråga?", "--index", str(tmp_path / "none"), "--corpus",
                 str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: corpus folder") and "Traceback" not in result.stderr
    empty = run("ask", "   ", cwd=tmp_path)
    assert empty.returncode == 2 and "question is empty" in empty.stderr
    assert not (tmp_path / "index").exists()
