"""Embedding with Ray Data on a real local Ray cluster (2 CPUs) started by the test: the same
index as embedding here, and Ray untouched without --ray."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.pipeline import Assistant
from assistant.sentence_vectors import document_sentences

from .conftest import ROOT, free_port

pytest.importorskip("ray", reason="Ray is in requirements-scale.txt")


# the cluster and its clients share a token (Ray would otherwise pick up ~/.ray/auth_token, or not)
RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, **RAY_ENV}
    started = subprocess.run(
        [ray_cli, "start", "--head", "--num-cpus", "2", "--port", str(port),
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr
    yield f"127.0.0.1:{port}"
    subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)


def _index(corpus, index, *flags):
    return subprocess.run(
        [sys.executable, "-m", "assistant", "index", "--corpus", str(corpus), "--index",
         str(index), "--json", *flags],
        env={**os.environ, **RAY_ENV, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=600)


def test_ray_workers_build_the_same_index(ray_cluster, small_corpus, small_assistant, tmp_path,
                                          embedder):
    small_assistant.index()
    result = _index(small_corpus, tmp_path / "ray-index", "--ray", ray_cluster,
                    "--ray-workers", "2")
    assert result.returncode == 0, result.stderr
    on_ray = Assistant(Settings(corpus_dir=small_corpus, index_dir=tmp_path / "ray-index"),
                       embedder=embedder)
    here, there = small_assistant.snapshot(), on_ray.snapshot()
    assert set(here.documents) == set(there.documents) and len(here) == len(there)
    ids = list(range(len(here)))
    query = embedder.embed_query("Vad gjorde Gladsaxe med jobbpakker?")
    mine, theirs = here.dense_scores(query, ids), there.dense_scores(query, ids)
    assert [theirs[i] for i in ids] == pytest.approx([mine[i] for i in ids], abs=1e-5)
    assert {i: v.features.tolist() for i, v in there.latent_terms(ids).items()} == \
        {i: v.features.tolist() for i, v in here.latent_terms(ids).items()}
    # the workers embed the sentences the reader reads too, and the index keeps them
    assert there.manifest.sentence_vectors == here.manifest.sentence_vectors
    texts = document_sentences(c.text for c in here.chunks(ids).values())
    mine, theirs = here.sentence_vectors(texts), there.sentence_vectors(texts)
    assert texts and set(theirs) == set(mine) == set(texts)
    for text in texts:
        assert theirs[text][0] == pytest.approx(mine[text][0], abs=2e-3)
    question = "Vad gjorde Gladsaxe med jobbpakker?"
    assert on_ray.ask(question).text == small_assistant.ask(question).text

    # an update through Ray is as idempotent as one here: nothing to embed the second time
    again = _index(small_corpus, tmp_path / "ray-index", "--ray", ray_cluster)
    assert again.returncode == 0, again.stderr
    assert '"embedded_chunks": 0' in again.stdout


def test_without_ray_the_package_never_imports_it(small_corpus, tmp_path):
    code = ("import sys; from assistant.cli import main; "
            f"main(['index', '--corpus', {str(small_corpus)!r}, '--index', "
            f"{str(tmp_path / 'index')!r}]); print('ray' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ,
                            "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_an_unreachable_ray_cluster_is_one_clear_error(small_corpus, tmp_path):
    result = _index(small_corpus, tmp_path / "index", "--ray", "127.0.0.1:1")
    assert result.returncode == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
