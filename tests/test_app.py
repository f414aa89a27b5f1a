"""The Streamlit app driven by streamlit.testing.v1.AppTest, on a real index in a temporary folder."""

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import ROOT, UNDECODABLE

APP = str(ROOT / "app.py")
GLADSAXE = "Vad gjorde Gladsaxe med jobbpakker?"


@pytest.fixture
def app(small_assistant, monkeypatch, tmp_path):
    small_assistant.index()
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(small_assistant.settings.corpus_dir))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(small_assistant.settings.index_dir))
    monkeypatch.setenv("ASSISTANT_STATE_DIR", str(tmp_path / "state"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def ask(at, question):
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def answer_markdown(at):
    return [m.value for m in at.chat_message[-1].markdown]


def test_question_gets_a_cited_answer_and_its_source(app):
    ask(app, GLADSAXE)
    texts = answer_markdown(app)
    assert any("**[1]**" in t and "12 stycken jobbpakker" in t for t in texts)
    labels = [e.label for e in app.chat_message[-1].expander]
    assert any(label.startswith("[1] Kunskaps- och erfarenhetsutbyte") for label in labels)
    assert any("12 stycken jobbpakker" in t and ":orange-background[" in t for t in texts)


def test_document_filter_narrows_the_sources(app):
    app.sidebar.multiselect(key="filter_docs").set_value(["stockholm-studieresa-toronto.txt"]).run()
    ask(app, GLADSAXE)
    labels = [e.label for e in app.chat_message[-1].expander]
    assert labels
    assert all("Toronto" in label for label in labels)


def test_upload_makes_new_content_answerable(app, small_assistant, tmp_path):
    uploader = app.sidebar.file_uploader[0]
    uploader.set_value(("kungsbacka.txt",
                        "Kungsbacka kommun erbjuder samhällsorientering på dari varje onsdag.".encode(),
                        "text/plain")).run()
    app.sidebar.button[0].click().run()
    assert not app.exception
    assert any("Added kungsbacka.txt" in s.value for s in app.sidebar.success)
    assert (small_assistant.settings.corpus_dir / "kungsbacka.txt").is_file()
    ask(app, "När erbjuder Kungsbacka samhällsorientering på dari?")
    assert any("onsdag" in t for t in answer_markdown(app))
    from assistant.audit import AuditLog

    entry = AuditLog(tmp_path / "state" / "audit.log").entries()[-1]
    assert entry["action"] == "add" and entry["file"] == "kungsbacka.txt"
    assert entry["outcome"] == "added" and len(entry["sha256"]) == 64


def test_undecodable_upload_is_refused_and_earlier_answers_still_work(app, small_assistant,
                                                                     tmp_path):
    ask(app, GLADSAXE)
    app.sidebar.file_uploader[0].set_value(("trasig.txt", UNDECODABLE, "text/plain")).run()
    app.sidebar.button[0].click().run()
    errors = [e.value for e in app.sidebar.error]
    assert any("trasig.txt" in e and "undecodable text" in e for e in errors)
    from assistant.audit import AuditLog

    refused = AuditLog(tmp_path / "state" / "audit.log").entries()[-1]
    assert refused["file"] == "trasig.txt" and refused["outcome"].startswith("refused")
    assert not (small_assistant.settings.corpus_dir / "trasig.txt").exists()
    ask(app, GLADSAXE)
    assert any("12 stycken jobbpakker" in t for t in answer_markdown(app))


def test_document_text_is_rendered_as_text(app, small_assistant):
    hostile = ("Rapport om SFI i Hostilia. <script>alert('xss')</script> Läs mer "
               "<img src=x onerror=alert(1)> om Hostilia kommuns SFI-utbildning.")
    (small_assistant.settings.corpus_dir / "hostilia.txt").write_text(hostile, encoding="utf-8")
    small_assistant.index()
    ask(app, "Vad säger rapporten om SFI i Hostilia?")
    texts = answer_markdown(app)
    passage = next(t for t in texts if "Hostilia" in t and "script" in t)
    # every markup character arrives escaped, so Markdown shows it literally
    assert "\\<script\\>" in passage and "<script>" not in passage
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in passage
    assert not app.sidebar.error


def test_export_contains_the_conversation_with_citations(app):
    ask(app, GLADSAXE)
    export = app.sidebar.get("download_button")
    assert export


def test_llm_backend_is_selectable_and_its_answer_checked(small_assistant, monkeypatch):
    from .llm_server import Reply, ScriptedLLMServer

    small_assistant.index()
    passages = small_assistant.retrieve(GLADSAXE).passages
    n = next(i for i, p in enumerate(passages, 1) if "12 stycken jobbpakker" in p.text)
    with ScriptedLLMServer() as server:
        server.reply = Reply(f"Gladsaxe har 12 stycken jobbpakker inom Jobbcenter [{n}].")
        monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(small_assistant.settings.corpus_dir))
        monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(small_assistant.settings.index_dir))
        monkeypatch.setenv("ASSISTANT_ANSWER_BACKEND", "ollama")
        monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", server.url)
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        assert at.sidebar.radio(key="backend").options == [
            "Quotes from the documents", "Language model (Ollama)"]
        assert at.sidebar.radio(key="backend").value == "ollama"
        ask(at, GLADSAXE)
        texts = answer_markdown(at)
        assert any(f"Gladsaxe har 12 stycken jobbpakker inom Jobbcenter\\. **[{n}]**" in t
                   for t in texts)
        at.sidebar.radio(key="backend").set_value("extractive").run()
        ask(at, GLADSAXE)
        assert any("Inom Jobbcenter arbetar man med 12 stycken jobbpakker" in t
                   for t in answer_markdown(at))


def test_a_broken_index_is_reported_not_crashed(small_assistant, monkeypatch):
    small_assistant.index()
    (small_assistant.settings.index_dir / "CURRENT").write_text("missing-snapshot\n")
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(small_assistant.settings.corpus_dir))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(small_assistant.settings.index_dir))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("cannot start" in e.value and "missing-snapshot" in e.value for e in at.error)


def llm_app(small_assistant, monkeypatch, server, key):
    small_assistant.index()
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(small_assistant.settings.corpus_dir))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(small_assistant.settings.index_dir))
    monkeypatch.setenv("ASSISTANT_ANSWER_BACKEND", "openai")
    monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("ASSISTANT_LLM_API_KEY", key)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


@pytest.mark.parametrize("key, accepted", [("sk-ui-real-key", True), ("sk-ui-wrong-key", False)])
def test_the_ui_sends_the_configured_api_key(small_assistant, monkeypatch, key, accepted):
    from .llm_server import Reply, ScriptedLLMServer

    with ScriptedLLMServer(required_key="sk-ui-real-key") as server:
        server.reply = Reply("Gladsaxe har 12 stycken jobbpakker inom Jobbcenter "
                             "[{cite:12 stycken jobbpakker}].")
        at = ask(llm_app(small_assistant, monkeypatch, server, key), GLADSAXE)
        headers = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
        sent = headers["authorization"]
        assert sent == f"Bearer {key}"  # not a masked "**********"
        texts = answer_markdown(at)
        notices = [i.value for i in at.chat_message[-1].info]
        if accepted:
            assert any("Gladsaxe har 12 stycken jobbpakker inom Jobbcenter" in t for t in texts)
            assert not notices
        else:
            assert any("HTTP 401" in n for n in notices)
            assert any("Inom Jobbcenter arbetar man med 12 stycken jobbpakker" in t for t in texts)
            assert all(key not in n for n in notices)


def test_a_follow_up_shows_what_was_searched_and_the_export_keeps_it(app):
    ask(app, "Vilka är de största invandrargrupperna i Gladsaxe?")
    ask(app, "Och i Pirkkala?")
    captions = [c.value for c in app.chat_message[-1].caption]
    assert any(c.startswith("Sökte efter: Vilka är de största invandrargrupperna i Pirkkala")
               for c in captions)
    assert any("Bosnien" in t for t in answer_markdown(app))
    first = [c.value for c in app.chat_message[1].caption]
    assert not any(c.startswith("Sökte efter") for c in first)  # the opening question as asked
    ask(app, "What about Solna?")
    assert any(c.value.startswith("Searched for: ")
               for c in app.chat_message[-1].caption)


def test_the_export_names_what_a_follow_up_searched_for(corpus_assistant):
    from assistant.conversation import Turn
    from assistant.render import conversation_markdown

    first = corpus_assistant.ask("Vilka är de största invandrargrupperna i Gladsaxe?")
    second = corpus_assistant.ask("Och i Pirkkala?", history=[Turn(first.question, first.text)])
    export = conversation_markdown([first, second])
    assert "## Fråga: Och i Pirkkala?" in export
    assert "*Sökte efter: Vilka är de största invandrargrupperna i Pirkkala?*" in export


def test_a_question_that_cannot_be_answered_keeps_its_place_with_a_message(app):
    ask(app, "Varför? " * 400)  # over the 2,000-character limit
    assert any("longer than 2000 characters" in e.value for e in app.chat_message[-1].error)
    ask(app, GLADSAXE)
    roles = [m.name for m in app.chat_message]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert any("12 stycken jobbpakker" in t for t in answer_markdown(app))
    # the earlier message stays where it was
    assert any("longer than 2000 characters" in e.value for e in app.chat_message[1].error)


def test_a_document_removed_in_the_ui_is_gone_and_audited(app, small_assistant, tmp_path):
    from assistant.audit import AuditLog

    source = "stockholm-studieresa-toronto.txt"
    app.sidebar.selectbox(key="remove_0").set_value(source).run()
    next(b for b in app.sidebar.button if b.label == "Remove from the index").click().run()
    assert not app.exception
    assert any(f"Removed {source}" in s.value for s in app.sidebar.success)
    assert not (small_assistant.settings.corpus_dir / source).exists()
    assert source not in small_assistant.snapshot().documents
    entry = AuditLog(tmp_path / "state" / "audit.log").entries()[-1]
    assert (entry["who"], entry["action"], entry["file"], entry["outcome"]) == (
        "ui", "remove", source, "removed")
