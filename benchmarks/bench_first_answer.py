"""Time from `streamlit run app.py` to the first answer on a machine with no index yet.

    python benchmarks/bench_first_answer.py [--chromium /usr/bin/chromium] [--cold]

Copies the bundled corpus to a temporary folder, starts the app there with no index, asks a
question in headless Chromium (Playwright) and reports when the page was usable and when the
answer appeared. With --cold the app also starts with an empty cache folder (XDG_CACHE_HOME), as
on a new machine: the embedding engine is compiled for the CPU during the start. Writes
benchmarks/results/first_answer.json and a screenshot beside it.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "first_answer.json")
    parser.add_argument("--cold", action="store_true",
                        help="start with an empty cache folder: the engine build is timed too")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "corpus", work / "corpus")
        shutil.copy(ROOT / "app.py", work / "app.py")
        shutil.copytree(ROOT / ".streamlit", work / ".streamlit")  # the app's own server config
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.cold:
            env["XDG_CACHE_HOME"] = str(work / "cache")
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}",
             "--browser.gatherUsageStats=false"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}")
                box = page.get_by_placeholder("Ask about the documents…")
                box.wait_for(timeout=300_000)
                ready = time.perf_counter() - started
                box.fill("Vad gjorde Gladsaxe med jobbpakker?")
                box.press("Enter")
                expect(page.get_by_text("12 stycken jobbpakker").first).to_be_visible(timeout=300_000)
                answered = time.perf_counter() - started
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out.with_suffix(".png")), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {"cold_cache": args.cold,
              "seconds_to_ready_with_index_built": round(ready, 1),
              "seconds_to_first_answer": round(answered, 1)}
    args.out.write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
