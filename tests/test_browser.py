"""End to end in a real headless browser: Debian's chromium, driven by Playwright, against
`streamlit run app.py` on a loopback port."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = Path(os.environ.get("ASSISTANT_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "artifacts"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason=f"no browser at {CHROMIUM}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(small_assistant, tmp_path):
    small_assistant.index()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "ASSISTANT_CORPUS_DIR": str(small_assistant.settings.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(small_assistant.settings.index_dir)}
    log = open(tmp_path / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
         "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("streamlit did not start: " + (tmp_path / "streamlit.log").read_text())
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=20)


def test_ask_in_the_browser_and_see_the_cited_source(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, wait_until="domcontentloaded")
        box = page.get_by_placeholder("Ask about the documents…")
        box.wait_for(timeout=60_000)
        box.fill("Vad gjorde Gladsaxe med jobbpakker?")
        box.press("Enter")
        answer = page.get_by_text("12 stycken jobbpakker").first
        expect(answer).to_be_visible(timeout=60_000)
        source = page.get_by_text("[1] Kunskaps- och erfarenhetsutbyte").first
        expect(source).to_be_visible()
        source.click()
        expect(page.get_by_text("vanorter-gladsaxe-pirkkala-ski-solna-2008.txt").first).to_be_visible()
        expect(page.get_by_text("kommer från Pakistan, Turkiet", exact=False).first).to_be_visible()
        page.wait_for_timeout(800)  # let the expander finish opening before the screenshot
        page.screenshot(path=str(ARTIFACTS / "answer.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "answer.png").stat().st_size > 10_000
