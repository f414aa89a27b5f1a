"""Many staff asking at once: the HTTP API and the Streamlit UI under concurrent users.

    python benchmarks/bench_load.py [--api-users 1 5 20 50] [--ui-users 1 5 20] [--seconds 20]
                                    [--ui-questions 3] [--out FILE]

Loopback only, bounded in time. A copy of the bundled corpus is indexed in a temporary folder and
served by `python -m assistant serve` (extractive answers). Each API level runs N users for
--seconds, each asking the gold questions in turn and waiting for each answer; halfway through
the busiest API level an editor adds a document (and removes it at the end). Then `streamlit run
app.py` serves the same index and N real browser sessions (Debian's chromium through Playwright)
each ask --ui-questions questions, one after the other. For every level: answers, errors,
answers per second, latency p50/p95, and the serving process's resident memory (peak over the run,
VmHWM). Prints a table and writes JSON (default benchmarks/results/load.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ASSISTANT_TEST_CHROMIUM", "/usr/bin/chromium")
NEW_DOCUMENT = ("Kungsbacka kommun erbjuder samhällsorientering på dari varje onsdag och "
                "språkcafé för nyanlända varje torsdag.").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def process_tree(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [pid] + [p for child in children for p in process_tree(child)]


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of the serving process and its worker processes, now and at peak."""
    totals = {"VmRSS": 0.0, "VmHWM": 0.0}
    for process in process_tree(pid):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in totals:
                totals[name] += int(value.split()[0]) / 1024
    return {"rss_mb": round(totals["VmRSS"], 1), "peak_rss_mb": round(totals["VmHWM"], 1)}


def wait_for(url: str, seconds: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def api_level(url: str, key: str, users: int, seconds: float, questions: list[str],
              midway=None) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def user(number: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                          timeout=60) as client:
            i = number
            while time.perf_counter() < stop_at:
                question = questions[i % len(questions)]
                i += users
                started = time.perf_counter()
                try:
                    response = client.post("/ask", json={"question": question})
                    ok = response.status_code == 200 and "answer" in response.json()
                    problem = None if ok else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    (errors.append(problem) if problem else latencies.append(elapsed))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    extra = {}
    if midway:
        time.sleep(seconds / 2)
        extra = midway()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return {"users": users, "answers": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)), "answers_per_s": round(len(latencies) / wall, 2),
            "p50_ms": round(1000 * percentile(latencies, 0.5)),
            "p95_ms": round(1000 * percentile(latencies, 0.95)), **extra}


def ui_level(url: str, users: int, per_user: int, questions: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    latencies: list[float] = []
    errors = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
        pages = [browser.new_context().new_page() for _ in range(users)]
        for page in pages:
            page.goto(url, wait_until="domcontentloaded")
        for page in pages:
            page.get_by_placeholder("Ask about the documents…").wait_for(timeout=120_000)
        began = time.perf_counter()
        # the sessions ask at once: each round, every page submits, then all answers are awaited
        for round_ in range(per_user):
            sent = []
            for n, page in enumerate(pages):
                box = page.get_by_placeholder("Ask about the documents…")
                box.fill(questions[(n + round_ * users) % len(questions)])
                box.press("Enter")
                sent.append(time.perf_counter())
            for page, started in zip(pages, sent):
                messages = page.locator('[data-testid="stChatMessage"]')
                try:
                    page.wait_for_function(
                        "n => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= n"
                        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                        arg=2 * (round_ + 1), timeout=120_000, polling=100)
                    latencies.append(time.perf_counter() - started)
                except Exception:  # a session that never got its answer counts as an error
                    errors += 1
                del messages
        wall = time.perf_counter() - began
        browser.close()
    return {"users": users, "answers": len(latencies), "errors": errors,
            "answers_per_s": round(len(latencies) / wall, 2),
            "p50_ms": round(1000 * percentile(latencies, 0.5)),
            "p95_ms": round(1000 * percentile(latencies, 0.95))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-users", type=int, nargs="*", default=[1, 5, 20, 50])
    parser.add_argument("--ui-users", type=int, nargs="*", default=[1, 5, 20])
    parser.add_argument("--seconds", type=float, default=20.0, help="per API level")
    parser.add_argument("--ui-questions", type=int, default=3, help="per UI session")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args(argv)
    questions = [json.loads(line)["question"]
                 for line in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines()
                 if line.strip()]

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    shutil.copytree(ROOT / "corpus", work / "corpus")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ASSISTANT_CORPUS_DIR": str(work / "corpus"),
           "ASSISTANT_INDEX_DIR": str(work / "index"), "ASSISTANT_STATE_DIR": str(work / "state"),
           "ASSISTANT_API_RATE_LIMIT_PER_MINUTE": "1000000"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "assistant", *a], env=env, cwd=work,  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout
    run("index")
    reader = run("keys", "create", "--role", "reader", "--name", "load").strip().splitlines()[-1]
    editor = run("keys", "create", "--role", "editor", "--name", "load-editor").strip().splitlines()[-1]
    results: dict = {"api": [], "ui": []}

    port = free_port()
    log = work / "serve.log"
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port),
                               "--workers", str(args.workers)],
                              env=env, cwd=work, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/health", 180, server, log)
        busiest = max(args.api_users, default=0)

        def add_document() -> dict:
            started = time.perf_counter()
            response = httpx.post(url + "/documents", headers={"Authorization": f"Bearer {editor}"},
                                  files={"file": ("kungsbacka-load.txt", NEW_DOCUMENT)}, timeout=300)
            return {"document_added_s": round(time.perf_counter() - started, 2),
                    "document_added_status": response.status_code}

        for users in args.api_users:
            level = api_level(url, reader, users, args.seconds, questions,
                              add_document if users == busiest else None)
            level.update(memory_mb(server.pid))
            results["api"].append(level)
            print(f"API {users:>3} users: {level}", file=sys.stderr)
        httpx.delete(url + "/documents/kungsbacka-load.txt",
                     headers={"Authorization": f"Bearer {editor}"}, timeout=300)
    finally:
        server.terminate()
        server.wait(timeout=30)

    if args.ui_users:
        port = free_port()
        log = work / "streamlit.log"
        app = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}",
             "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
            env=env, cwd=work, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        try:
            wait_for(f"http://127.0.0.1:{port}/_stcore/health", 120, app, log)
            for users in args.ui_users:
                level = ui_level(f"http://127.0.0.1:{port}", users, args.ui_questions, questions)
                level.update(memory_mb(app.pid))
                results["ui"].append(level)
                print(f"UI  {users:>3} users: {level}", file=sys.stderr)
        finally:
            app.terminate()
            app.wait(timeout=30)

    lines = ["| through | users | answers | errors | answers/s | p50 ms | p95 ms | serving peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in ("api", "ui"):
        for r in results[kind]:
            lines.append(f"| {kind.upper()} | {r['users']} | {r['answers']} | {r['errors']} | "
                         f"{r['answers_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['peak_rss_mb']} |")
    table = "\n".join(lines)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**results, "table": table}, indent=2), "utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
