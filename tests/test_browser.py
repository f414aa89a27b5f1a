"""End to end in a real headless browser: Debian's chromium, driven by Playwright, against
`streamlit run app.py` on a loopback port."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, free_port

CHROMIUM = Path(os.environ.get("ASSISTANT_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "artifacts"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason=f"no browser at {CHROMIUM}")


@pytest.fixture
def server(small_assistant, tmp_path):
    with streamlit_app(small_assistant, tmp_path) as url:
        yield url


@contextlib.contextmanager
def streamlit_app(small_assistant, tmp_path, port=None, **settings):
    small_assistant.index()
    port = port or free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "ASSISTANT_CORPUS_DIR": str(small_assistant.settings.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(small_assistant.settings.index_dir),
           **{f"ASSISTANT_{k.upper()}": v for k, v in settings.items()}}
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


def launch(p):
    return p.chromium.launch(
        executable_path=str(CHROMIUM), headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"])


def conversation(page) -> list[str]:
    """The chat as a reader sees it: each message's text, in order."""
    return [m.inner_text() for m in page.locator('[data-testid="stChatMessage"]').all()]


QUESTIONS = ["Vad gjorde Gladsaxe med jobbpakker?", "Hur många invånare har Pirkkala?",
             "How many people came to Solna in 2007?"]
ANSWERS = ["12 stycken jobbpakker", "15 639", "118 personer"]


def assert_each_question_kept_its_answer(page):
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stChatMessage"]')).to_have_count(2 * len(QUESTIONS),
                                                                          timeout=90_000)
    for _ in range(60):  # the last answer may still be streaming or rendering
        shown = conversation(page)
        if all(a in shown[2 * i + 1] for i, a in enumerate(ANSWERS)):
            break
        page.wait_for_timeout(500)
    for i, (question, answer) in enumerate(zip(QUESTIONS, ANSWERS)):
        assert question in shown[2 * i], shown
        assert answer in shown[2 * i + 1], shown


def assert_export_in_order(page, answers):
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)  # run finished
    button = page.get_by_role("button", name="Export conversation (Markdown)")
    expect(button).to_have_count(1, timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        button.click()
    export = Path(download.value.path()).read_text("utf-8")
    at = 0
    for question, answer in zip(QUESTIONS, answers):
        at = export.index(question, at)
        at = export.index(answer, at)  # each question followed by its own answer


def test_questions_sent_back_to_back_each_keep_their_answer(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, wait_until="domcontentloaded")
        box = page.get_by_placeholder("Ask about the documents…")
        box.wait_for(timeout=60_000)
        box.fill(QUESTIONS[0])
        box.press("Enter")
        for question, answer in zip(QUESTIONS[1:], ANSWERS):
            box.fill(question)  # typed while the answer is being made
            # and sent on the very frame the previous answer shows
            page.wait_for_function(f"() => document.body.innerText.includes({answer!r})",
                                   polling="raf", timeout=60_000)
            box.press("Enter")
        assert_each_question_kept_its_answer(page)
        assert_export_in_order(page, ANSWERS)
        browser.close()


def test_a_question_sent_while_an_answer_streams_keeps_both_answers(small_assistant, tmp_path):
    from playwright.sync_api import sync_playwright

    from .llm_server import Reply, ScriptedLLMServer

    answers = {q: a for q, a in zip(QUESTIONS, [
        "Gladsaxe har 12 stycken jobbpakker inom Jobbcenter [{cite:12 stycken jobbpakker}].",
        "Pirkkala har 15 639 invånare [{cite:15 639}].",
        "Under 2007 kom 118 personer till Solna [{cite:118 personer}]."])}
    with ScriptedLLMServer() as llm:
        # each answer streams for about two seconds
        llm.script = {q[:20]: Reply(a, word_delay_s=0.25) for q, a in answers.items()}
        with streamlit_app(small_assistant, tmp_path, answer_backend="openai",
                           llm_base_url=llm.url + "/v1", llm_model="scripted") as url, \
                sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            box = page.get_by_placeholder("Ask about the documents…")
            box.wait_for(timeout=60_000)
            for question, answer in zip(QUESTIONS, answers.values()):
                box.fill(question)
                box.press("Enter")
                # the next question goes in while this answer is still streaming
                page.wait_for_function(f"() => document.body.innerText.includes({answer.split()[0]!r})",
                                       polling="raf", timeout=60_000)
            assert_each_question_kept_its_answer(page)
            page.wait_for_function("() => !document.body.innerText.includes('▌')", timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "streamed-back-to-back.png"), full_page=True)
            assert_export_in_order(page, ["12 stycken jobbpakker", "15 639", "118 personer"])
            browser.close()


@contextlib.contextmanager
def oidc_provider(tmp_path):
    """A real OpenID Connect provider process on loopback (oidc-provider-mock)."""
    import httpx

    port = free_port()
    log = open(tmp_path / "oidc.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                httpx.get(url + "/.well-known/openid-configuration", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the OIDC provider did not start: " + (tmp_path / "oidc.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def sign_in(browser, url, subject):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click(timeout=60_000)
    page.locator('input[name="sub"]').fill(subject, timeout=30_000)
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text(f"Signed in as {subject}")).to_be_visible(timeout=60_000)
    return page


def test_sign_in_through_an_oidc_provider_gives_each_user_their_role(small_assistant, tmp_path):
    import httpx
    from playwright.sync_api import expect, sync_playwright

    with oidc_provider(tmp_path) as provider:
        httpx.put(f"{provider}/users/anna@kommun.se", json={
            "email": "anna@kommun.se", "groups": ["Integration-Editors"]}).raise_for_status()
        httpx.put(f"{provider}/users/bo@kommun.se",
                  json={"email": "bo@kommun.se", "groups": ["Staff"]}).raise_for_status()
        httpx.put(f"{provider}/users/carl@kommun.se",
                  json={"email": "Carl@Kommun.se"}).raise_for_status()
        port = free_port()
        (tmp_path / ".streamlit").mkdir()
        (tmp_path / ".streamlit" / "secrets.toml").write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-long-random-test-cookie-secret-0123456789"
client_id = "integration-assistant"
client_secret = "test-client-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
""", "utf-8")
        with streamlit_app(small_assistant, tmp_path, port=port,
                           auth_editors='["integration-editors"]',
                           auth_admins='["carl@kommun.se"]',
                           state_dir=str(tmp_path / "state")) as url, sync_playwright() as p:
            browser = launch(p)
            stranger = browser.new_page()
            stranger.goto(url, wait_until="domcontentloaded")
            expect(stranger.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
            expect(stranger.get_by_placeholder("Ask about the documents…")).to_have_count(0)
            expect(stranger.get_by_text("Add documents")).to_have_count(0)

            reader = sign_in(browser, url, "bo@kommun.se")
            expect(reader.get_by_text("Signed in as bo@kommun.se (reader)")).to_be_visible()
            box = reader.get_by_placeholder("Ask about the documents…")
            box.fill("Vad gjorde Gladsaxe med jobbpakker?")
            box.press("Enter")
            expect(reader.get_by_text("12 stycken jobbpakker").first).to_be_visible(timeout=60_000)
            expect(reader.get_by_text("Add documents")).to_have_count(0)
            expect(reader.get_by_text("Remove a document")).to_have_count(0)

            editor = sign_in(browser, url, "anna@kommun.se")
            expect(editor.get_by_text("Signed in as anna@kommun.se (editor)")).to_be_visible()
            expect(editor.get_by_text("Add documents")).to_be_visible()
            expect(editor.get_by_text("Remove a document")).to_be_visible()
            expect(editor.get_by_text("Audit log")).to_have_count(0)
            expect(editor.get_by_placeholder("Ask about the documents…")).to_be_visible()
            editor.wait_for_timeout(1000)
            editor.screenshot(path=str(ARTIFACTS / "signed-in-editor.png"), full_page=True)

            admin = sign_in(browser, url, "carl@kommun.se")
            expect(admin.get_by_text("(admin)")).to_be_visible()
            expect(admin.get_by_text("Audit log")).to_be_visible()
            browser.close()
