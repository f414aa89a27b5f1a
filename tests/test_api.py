"""The HTTP API against a real `python -m assistant serve` process on 127.0.0.1: keys, roles,
limits, uploads, the audit log, and answers equal to `ask --json`."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .conftest import CORPUS, ROOT, free_port
from .test_cli import run

GLADSAXE = "Vad gjorde Gladsaxe med jobbpakker?"
MAX_FILE_MB = 0.05
MAX_BODY_KB = 16
RATE_LIMIT = 30


class Service:
    def __init__(self, root):
        self.root = root
        self.corpus = root / "corpus"
        self.env = {"ASSISTANT_CORPUS_DIR": str(self.corpus),
                    "ASSISTANT_INDEX_DIR": str(root / "index"),
                    "ASSISTANT_STATE_DIR": str(root / "state"),
                    "ASSISTANT_MAX_FILE_MB": str(MAX_FILE_MB),
                    "ASSISTANT_API_MAX_BODY_KB": str(MAX_BODY_KB),
                    "ASSISTANT_API_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)}
        self.keys = {}

    def key(self, role, name=None):
        result = run("keys", "create", "--role", role, "--name", name or role, cwd=self.root,
                     env=self.env)
        assert result.returncode == 0, result.stderr
        secret = result.stdout.strip().splitlines()[-1]
        return secret

    def client(self, key=None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def files(self):
        return sorted(p.name for p in self.corpus.iterdir())


def wait_until_healthy(url, process, log):
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    pytest.fail("the API did not start: " + log.read_text())


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("service")) as svc:
        yield svc


@contextlib.contextmanager
def running_service(root, **settings):
    (root / "corpus").mkdir()
    for name in ("vanorter-gladsaxe-pirkkala-ski-solna-2008.txt",
                 "stockholm-studieresa-toronto.txt", "catalog.toml"):
        shutil.copy(CORPUS / name, root / "corpus" / name)
    svc = Service(root)
    svc.env.update({f"ASSISTANT_{k.upper()}": v for k, v in settings.items()})
    port = free_port()
    log = open(root / "serve.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--port", str(port)], cwd=root,
        env={**os.environ, "PYTHONPATH": str(ROOT), **svc.env}, stdout=log,
        stderr=subprocess.STDOUT)
    svc.url = f"http://127.0.0.1:{port}"
    wait_until_healthy(svc.url, process, root / "serve.log")
    svc.reader, svc.editor, svc.admin = svc.key("reader"), svc.key("editor"), svc.key("admin")
    yield svc
    process.terminate()
    process.wait(timeout=20)
    log.close()
    served = (root / "serve.log").read_text()
    for secret in (svc.reader, svc.editor, svc.admin):
        assert secret not in served  # a key is never logged


ENDPOINTS = [("POST", "/ask", {"json": {"question": GLADSAXE}}), ("GET", "/documents", {}),
             ("POST", "/documents", {"files": {"file": ("x.txt", b"Text om SFI.")}}),
             ("DELETE", "/documents/stockholm-studieresa-toronto.txt", {}), ("GET", "/audit", {})]


def test_health_needs_no_key(service):
    health = httpx.get(service.url + "/health").json()
    assert health["status"] == "ok" and health["documents"] == 2


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Bearer ak_not-a-real-key", "Basic dXNlcjpwdw==",
                                           "Bearer", "bearer ak_"])
def test_every_endpoint_refuses_a_missing_or_wrong_key(service, method, path, body, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, service.url + path, headers=headers, **body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert service.files() == ["catalog.toml", "stockholm-studieresa-toronto.txt",
                               "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt"]


@pytest.mark.parametrize("role, refused", [
    ("reader", {"POST /documents", "DELETE /documents/stockholm-studieresa-toronto.txt",
                "GET /audit"}),
    ("editor", {"GET /audit"})])
def test_a_weak_role_is_refused_and_changes_nothing(service, role, refused):
    before = service.files()
    key = service.reader if role == "reader" else service.editor
    with service.client(key) as client:
        for method, path, body in ENDPOINTS:
            if f"{method} {path}" in refused:
                response = client.request(method, path, **body)
                assert response.status_code == 403, (method, path, response.text)
                assert f"a {role} key may not do this" in response.json()["detail"]
            elif method in ("GET", "POST") and path in ("/ask", "/documents") and \
                    f"{method} {path}" != "POST /documents":
                assert client.request(method, path, **body).status_code == 200
    assert service.files() == before


def test_ask_returns_what_ask_json_returns(service):
    with service.client(service.reader) as client:
        response = client.post("/ask", json={"question": GLADSAXE})
    assert response.status_code == 200
    cli = run("ask", GLADSAXE, "--json", cwd=service.root, env=service.env)
    expected = json.loads(cli.stdout)
    got = response.json()
    assert got["answer"] == expected["answer"] and "12 stycken jobbpakker" in got["answer"]
    assert [c["source"] for c in got["citations"]] == [c["source"] for c in expected["citations"]]
    assert set(got) == set(expected)


def test_a_follow_up_and_filters_go_through_the_api(service):
    with service.client(service.reader) as client:
        follow_up = client.post("/ask", json={
            "question": "Och i Pirkkala?",
            "history": [{"question": "Vilka är de största invandrargrupperna i Gladsaxe?",
                         "answer": "Pakistan … [1]"}]}).json()
        assert follow_up["searched_for"] == "Vilka är de största invandrargrupperna i Pirkkala?"
        filtered = client.post("/ask", json={"question": GLADSAXE, "filters": {
            "documents": ["stockholm-studieresa-toronto.txt"]}}).json()
        assert {p["source"] for p in filtered["passages"]} == {"stockholm-studieresa-toronto.txt"}
        for bad in [{"question": "x" * 2001}, {"question": "   "}, {"question": GLADSAXE,
                    "history": [{"answer": "no question"}]}, {"question": GLADSAXE, "top_k": 0}]:
            response = client.post("/ask", json=bad)
            assert response.status_code == 422, bad


def test_an_editor_adds_and_removes_a_document_and_the_audit_log_has_both(service):
    text = "Kungsbacka kommun erbjuder samhällsorientering på dari varje onsdag.".encode()
    question = {"question": "När erbjuder Kungsbacka samhällsorientering på dari?"}
    with service.client(service.editor) as editor, service.client(service.reader) as reader:
        added = editor.post("/documents", files={"file": ("kungsbacka.txt", text)})
        assert added.status_code == 201, added.text
        assert added.json()["source"] == "kungsbacka.txt" and added.json()["index"]["added"]
        # served from the new snapshot at once, without a restart
        assert "onsdag" in reader.post("/ask", json=question).json()["answer"]
        assert "kungsbacka.txt" in [d["source"] for d in reader.get("/documents").json()]
        removed = editor.delete("/documents/kungsbacka.txt")
        assert removed.status_code == 200 and removed.json()["index"]["removed"] == ["kungsbacka.txt"]
        assert "onsdag" not in reader.post("/ask", json=question).json()["answer"]
        assert editor.delete("/documents/kungsbacka.txt").status_code == 404
    with service.client(service.admin) as admin:
        log = admin.get("/audit").json()
    digest = __import__("hashlib").sha256(text).hexdigest()
    assert {"who": "editor", "action": "add", "file": "kungsbacka.txt", "sha256": digest,
            "outcome": "added"}.items() <= log[-3].items()
    assert {"who": "editor", "action": "remove", "file": "kungsbacka.txt", "sha256": digest,
            "outcome": "removed"}.items() <= log[-2].items()
    assert log[-1]["outcome"].startswith("refused") and log[-1]["action"] == "remove"


def test_paths_outside_the_corpus_are_refused(service, tmp_path):
    outside = service.root / "secret.txt"
    outside.write_text("keep me", "utf-8")
    with service.client(service.editor) as editor:
        for path in ["/documents/..%2Fsecret.txt", "/documents/%2E%2E/secret.txt",
                     "/documents/catalog.toml", "/documents/..%2F..%2Fetc%2Fpasswd"]:
            response = editor.delete(path)
            assert response.status_code == 404, path
        added = editor.post("/documents", files={"file": ("../../evil.txt", "Ondskefull text om "
                                                          "SFI i Evilstad.".encode())})
        assert added.status_code == 201 and added.json()["source"] == "evil.txt"
        assert (service.corpus / "evil.txt").is_file()
        assert not (service.root / "evil.txt").exists()
        assert not (service.root.parent / "evil.txt").exists()
        assert editor.delete("/documents/evil.txt").status_code == 200
    assert outside.read_text("utf-8") == "keep me"
    assert (service.corpus / "catalog.toml").is_file()


def test_oversize_bodies_and_bad_files_are_refused(service):
    before = service.files()
    with service.client(service.editor) as editor:
        big = editor.post("/documents", files={"file": ("big.txt", b"SFI " * 20_000)})
        assert big.status_code == 413
        body = editor.post("/ask", json={"question": GLADSAXE, "history": [
            {"question": "x" * 1000, "answer": "y" * 1000}] * 10})
        assert body.status_code == 413
        wrong_type = editor.post("/documents", files={"file": ("tool.exe", b"MZ")})
        assert wrong_type.status_code == 422 and "unsupported file type" in wrong_type.text
        garbage = bytes(range(128, 256)) * 40
        undecodable = editor.post("/documents", files={"file": ("trasig.txt", garbage)})
        assert undecodable.status_code == 422 and "trasig.txt" in undecodable.text
    assert service.files() == before


def test_document_markup_comes_back_escaped(service):
    hostile = ("Rapport om SFI i Hostilia. <script>alert('xss')</script> Läs mer "
               "<img src=x onerror=alert(1)> om Hostilia kommuns SFI-utbildning.")
    with service.client(service.editor) as editor:
        assert editor.post("/documents", files={"file": ("hostilia.txt", hostile.encode())}
                           ).status_code == 201
        response = editor.post("/ask", json={"question": "Vad säger rapporten om SFI i Hostilia?"})
        assert "<script>" not in response.text and "<img" not in response.text
        assert "\\u003cscript\\u003e" in response.text
        assert any("<script>alert('xss')</script>" in p["text"] for p in response.json()["passages"])
        assert editor.delete("/documents/hostilia.txt").status_code == 200


def test_too_many_requests_of_one_key_are_refused(service):
    key = service.key("reader", "busy-reader")
    with service.client(key) as client:
        codes = [client.get("/documents").status_code for _ in range(RATE_LIMIT + 2)]
    assert codes[:RATE_LIMIT] == [200] * RATE_LIMIT and codes[RATE_LIMIT:] == [429, 429]
    with service.client(service.reader) as other:
        assert other.get("/documents").status_code == 200  # the limit is per key


def test_keys_are_listed_without_secrets_and_a_revoked_key_stops_working(service):
    key = service.key("reader", "temporary")
    with service.client(key) as client:
        assert client.get("/documents").status_code == 200
        listed = run("keys", "list", cwd=service.root, env=service.env).stdout
        assert "temporary" in listed and key not in listed
        stored = (service.root / "state" / "keys.json").read_text("utf-8")
        assert key not in stored
        revoked = run("keys", "revoke", "temporary", cwd=service.root, env=service.env)
        assert revoked.returncode == 0
        assert client.get("/documents").status_code == 401
    bad = run("keys", "create", "--role", "owner", cwd=service.root, env=service.env)
    assert bad.returncode == 2


def events(response) -> list[tuple[str, dict]]:
    out = []
    for block in response.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_an_extractive_answer_streams_as_one_answer_event(service):
    with service.client(service.reader) as client:
        response = client.post("/ask", json={"question": GLADSAXE},
                               headers={"Accept": "text/event-stream"})
        plain = client.post("/ask", json={"question": GLADSAXE}).json()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events(response) == [("answer", plain)]


def test_a_model_answer_streams_its_tokens_then_the_checked_answer(tmp_path_factory):
    from .llm_server import Reply, ScriptedLLMServer

    raw = ("Gladsaxe har 12 stycken jobbpakker inom Jobbcenter [{cite:12 stycken jobbpakker}]. "
           "Gladsaxe har också tusen robotar [{cite:12 stycken jobbpakker}].")
    with ScriptedLLMServer() as llm:
        llm.reply = Reply(raw, word_delay_s=0.02)
        with running_service(tmp_path_factory.mktemp("llm-service"), answer_backend="openai",
                             llm_base_url=llm.url + "/v1", llm_model="scripted") as svc, \
                svc.client(svc.key("reader")) as client:
            response = client.post("/ask", json={"question": GLADSAXE},
                                   headers={"Accept": "text/event-stream"})
            slow_then_quick = _a_quick_question_during_a_slow_stream(llm, svc, client)
    got = events(response)
    kinds = [kind for kind, _ in got]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"token"} and len(kinds) > 10
    streamed = "".join(data["text"] for _, data in got[:-1]).strip()
    answer = got[-1][1]
    assert streamed.startswith("Gladsaxe har 12 stycken jobbpakker inom Jobbcenter [")
    assert answer["backend"] == "openai" and answer["raw_answer"].strip() == streamed
    # the checked answer marks the sentence its passage does not support
    assert answer["citations"][0]["supported"] is True
    assert any("tusen robotar" in f for f in answer["flagged"])
    # questions do not wait for each other: a quick answer comes while a slow one still streams
    quick_s, slow_left_s = slow_then_quick
    assert quick_s < 3 and slow_left_s > 1


def _a_quick_question_during_a_slow_stream(llm, svc, client) -> tuple[float, float]:
    """Seconds the quick question took, and the seconds the slow stream still had to go."""
    from .llm_server import Reply

    contact = "Vem är kontaktperson för studiebesöken?"
    llm.script = {GLADSAXE: Reply("Gladsaxe har 12 stycken jobbpakker [{cite:12 stycken}]. " * 3,
                                  word_delay_s=0.25),
                  contact: Reply("Kajsa Rosén är kontaktperson [{cite:Kajsa Rosén}].")}
    finished = {}

    def slow() -> None:
        with svc.client(svc.reader) as other:
            other.post("/ask", json={"question": GLADSAXE}, headers={"Accept": "text/event-stream"})
        finished["slow"] = time.perf_counter()

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(1.0)
    started = time.perf_counter()
    quick = client.post("/ask", json={"question": contact})
    done = time.perf_counter()
    thread.join(timeout=60)
    assert quick.status_code == 200 and "Kajsa Rosén" in quick.json()["answer"]
    return done - started, finished["slow"] - done


def test_a_sync_by_another_process_is_served_without_a_restart(service):
    question = {"question": "Vilken dag har Tjörn språkcafé för nyanlända?"}
    document = service.corpus / "tjorn.txt"
    document.write_text("Tjörns kommun har språkcafé för nyanlända varje tisdag i biblioteket.",
                        "utf-8")
    try:
        assert run("index", cwd=service.root, env=service.env).returncode == 0
        with service.client(service.reader) as client:
            assert "tisdag" in client.post("/ask", json=question).json()["answer"]
    finally:
        document.unlink()
        assert run("index", cwd=service.root, env=service.env).returncode == 0
    with service.client(service.reader) as client:
        assert "tisdag" not in client.post("/ask", json=question).json()["answer"]


def test_openapi_docs_are_served(service):
    assert httpx.get(service.url + "/docs").status_code == 200
    paths = httpx.get(service.url + "/openapi.json").json()["paths"]
    assert {"/ask", "/documents", "/documents/{source}", "/health", "/audit"} <= set(paths)


def test_several_worker_processes_serve_the_same_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    (root / "corpus").mkdir()
    shutil.copy(CORPUS / "stockholm-studieresa-toronto.txt", root / "corpus")
    svc = Service(root)
    port = free_port()
    log = root / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--port", str(port), "--workers", "2"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(ROOT), **svc.env},
        stdout=open(log, "w"), stderr=subprocess.STDOUT)
    svc.url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(svc.url, process, log)
        key = svc.key("reader")
        with svc.client(key) as client:
            answers = [client.post("/ask", json={"question": "Vem är kontaktperson för "
                                                 "studiebesöken?"}).json() for _ in range(4)]
        assert all("Kajsa Rosén" in a["answer"] for a in answers)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_question_in_flight_finishes_on_the_snapshot_it_started_with(small_assistant):
    small_assistant.index()
    before = small_assistant.snapshot()
    (small_assistant.settings.corpus_dir / "tjorn.txt").write_text(
        "Tjörns kommun har språkcafé för nyanlända varje tisdag i biblioteket.", "utf-8")
    small_assistant.index()
    after = small_assistant.snapshot()
    assert after.name != before.name
    question = "Vilken dag har Tjörn språkcafé för nyanlända?"
    query = small_assistant.retriever.encode_query(question)
    old = small_assistant.retriever.retrieve(before, question, 5, None, query).passages
    new = small_assistant.retriever.retrieve(after, question, 5, None, query).passages
    assert all(p.source != "tjorn.txt" for p in old)  # the earlier snapshot still answers, unchanged
    assert new[0].source == "tjorn.txt"


def test_a_damaged_keys_file_is_a_clear_503_not_a_crash(service):
    keys = service.root / "state" / "keys.json"
    saved = keys.read_bytes()
    try:
        keys.write_text("{not json", "utf-8")
        response = httpx.get(service.url + "/documents",
                             headers={"Authorization": f"Bearer {service.reader}"})
        assert response.status_code == 503 and "keys.json" in response.json()["detail"]
    finally:
        keys.write_bytes(saved)
    with service.client(service.reader) as client:
        assert client.get("/documents").status_code == 200
