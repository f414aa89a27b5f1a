"""Streamlit chat front end: `streamlit run app.py`. Thin: all logic lives in the package."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from assistant.config import ConfigError, Settings, load_settings, settings_key
from assistant.conversation import Turn
from assistant.corpus import CorpusChangeError, add_files, remove_document
from assistant.roles import allows, role_for
from assistant.records import Unanswered
from assistant.text import detect_language
from assistant.pipeline import Assistant
from assistant.render import (LABELS, answer_markdown, conversation_markdown,
                              escape_markdown, highlighted_passage, where)
from assistant.audit import AuditLog
from assistant.catalog import CatalogError
from assistant.retrieval import SearchFilter
from assistant.index_engine import IndexError_
from streamlit.errors import StreamlitSecretNotFoundError

UI_USER = "ui"  # who the audit log names for changes made without sign-in

st.set_page_config(page_title="Integration documents assistant", page_icon="📄", layout="wide")


@st.cache_resource(show_spinner=False)
def get_assistant(key: str, _settings: Settings) -> Assistant:
    # keyed by a fingerprint of the settings (secrets hashed), so a changed configuration gets its
    # own assistant; the settings themselves are passed as they are, API key intact
    return Assistant(_settings)


def build_index_if_missing(assistant: Assistant) -> None:
    if assistant.store.exists():
        return
    bar = st.progress(0.0, text="Building the index from the corpus folder…")

    def progress(stage: str, done: int, total: int) -> None:
        share = done / max(total, 1)
        bar.progress(0.1 * share if stage == "files" else 0.1 + 0.9 * share,
                     text=f"Indexing {stage}: {done} of {total}")

    report = assistant.ensure_index(progress=progress)
    bar.empty()
    if report is not None:
        st.toast(f"Index built: {report.summary()}")


def show_answer(answer) -> None:
    labels = LABELS[answer.language]
    if answer.searched_for:
        st.caption(f"{labels['searched_for']}: {escape_markdown(answer.searched_for)}")
    if answer.notice:
        st.info(answer.notice)
    st.markdown(answer_markdown(answer))
    for flagged in answer.flagged_sentences:
        st.warning(f"⚠ {flagged}")
    if answer.abstained:
        if answer.passages:
            st.caption(labels["related"])
            for n, passage in enumerate(answer.passages[:3], start=1):
                with st.expander(f"[{n}] {passage.title}"):
                    st.caption(where(passage, answer.language))
                    st.markdown(highlighted_passage(passage.text, []))
        return
    st.caption(labels["sources"])
    shown: set[int] = set()
    for citation in answer.citations:
        if citation.passage is None:
            st.error(f"[{citation.n}] {labels['missing']}")
            continue
        if citation.n in shown:
            continue
        shown.add(citation.n)
        quotes = [c for c in answer.citations if c.n == citation.n]
        supported = all(c.supported for c in quotes)
        title = f"[{citation.n}] {citation.passage.title}"
        with st.expander(title if supported else f"⚠ {title} — {labels['unsupported']}",
                         expanded=False):
            st.caption(where(citation.passage, answer.language))
            if not supported:
                st.warning(labels["unsupported"])
            st.markdown(highlighted_passage(citation.passage.text, [c.quote for c in quotes],
                                            {c.quote: c.answer_spans for c in quotes}))


def sidebar(assistant: Assistant, who: str, role: str) -> tuple[SearchFilter, object]:
    snapshot = assistant.snapshot()
    manifest = snapshot.manifest
    if who != UI_USER:
        st.sidebar.caption(f"Signed in as {escape_markdown(who)} ({role})")
        st.sidebar.button("Sign out", on_click=st.logout)
    st.sidebar.header("Index")
    st.sidebar.markdown(
        f"{manifest.documents} documents, {manifest.chunks} passages  \n"
        f"Embedder: `{manifest.embedder_id}`  \nBuilt: {manifest.created_at}"
    )
    st.session_state.setdefault("top_k", assistant.settings.top_k)
    st.sidebar.slider("Passages per answer", 1, 10, key="top_k")
    backends = ["extractive"]
    if assistant.settings.answer_backend != "extractive":
        backends.append(assistant.settings.answer_backend)
    st.session_state.setdefault("backend", assistant.settings.answer_backend)
    if len(backends) > 1:
        st.sidebar.radio("Answers", backends, key="backend",
                         format_func=lambda b: {"extractive": "Quotes from the documents",
                                                "openai": "Language model (OpenAI-compatible)",
                                                "ollama": "Language model (Ollama)"}[b])
    documents = snapshot.documents
    chosen = st.sidebar.multiselect("Documents", sorted(documents),
                                    format_func=lambda s: documents[s].title, key="filter_docs")
    organisations = sorted({d.organisation for d in documents.values() if d.organisation})
    orgs = st.sidebar.multiselect("Organisation", organisations, key="filter_orgs")
    years = sorted({d.year for d in documents.values() if d.year})
    chosen_years = st.sidebar.multiselect("Year", years, key="filter_years")
    export_slot = st.sidebar.empty()  # filled after the conversation, so it holds every answer
    audit = AuditLog(Path(assistant.settings.state_dir) / "audit.log")
    if allows(role, "editor"):
        add_documents(assistant, who, audit)
        remove_documents(assistant, who, audit)
    if allows(role, "admin"):
        show_audit_log(audit)
    return SearchFilter(frozenset(chosen), frozenset(orgs), frozenset(chosen_years)), export_slot


def add_documents(assistant: Assistant, who: str, audit: AuditLog) -> None:
    st.sidebar.header("Add documents")
    files = st.sidebar.file_uploader("txt, md, pdf, docx or html", accept_multiple_files=True,
                                     type=["txt", "md", "pdf", "docx", "html", "htm"],
                                     key=f"uploads_{st.session_state.upload_round}")
    if not files or not st.sidebar.button("Add to the index"):
        return
    bar = st.sidebar.progress(0.0, text="Updating the index…")
    try:
        added, _ = add_files(assistant, [(f.name, f.getvalue()) for f in files], who, audit,
                             progress=lambda stage, done, total: bar.progress(
                                 done / max(total, 1), text=f"Indexing {stage}: {done} of {total}"))
    except CorpusChangeError as exc:
        st.sidebar.error(f"Nothing was added: {exc}")
        return
    finally:
        bar.empty()
    for upload in added:
        if upload.problem:
            st.sidebar.error(f"{upload.name} could not be added: {upload.problem}")
        else:
            st.sidebar.success(f"Added {upload.name} as {upload.stored}")
    st.session_state.upload_round += 1


def remove_documents(assistant: Assistant, who: str, audit: AuditLog) -> None:
    st.sidebar.header("Remove a document")
    documents = assistant.snapshot().documents
    source = st.sidebar.selectbox("Indexed documents", sorted(documents), index=None,
                                  format_func=lambda s: f"{documents[s].title} ({s})",
                                  key=f"remove_{st.session_state.upload_round}")
    if source is None or not st.sidebar.button("Remove from the index"):
        return
    try:
        remove_document(assistant, source, who, audit)
    except CorpusChangeError as exc:
        st.sidebar.error(str(exc))
        return
    st.sidebar.success(f"Removed {source}")
    st.session_state.upload_round += 1


def show_audit_log(audit: AuditLog) -> None:
    with st.sidebar.expander("Audit log"):
        entries = audit.entries(last=200)
        if not entries:
            st.caption("No changes to the corpus yet.")
        for entry in reversed(entries):
            st.text(f"{entry['time']}  {entry['who']}  {entry['action']}  {entry['file']}  "
                    f"{entry['outcome']}")


def sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError as exc:
        if "No secrets found" in str(exc):
            return False  # laptop mode
        raise ConfigError(f"the secrets file cannot be read: {exc}") from None


def signed_in_user(settings: Settings) -> tuple[str, str]:
    """Who is asking and their role; stops the page at a sign-in button until they have signed
    in. Without sign-in configured, anyone at this page may add documents, as on a laptop."""
    if not sign_in_configured():
        return UI_USER, "editor"
    if not st.user.is_logged_in:
        st.info("Sign in to ask questions about the documents.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    claims = st.user.to_dict()
    return str(claims.get("email") or claims.get("sub")), role_for(claims, settings)


def main() -> None:
    st.title("Integration documents assistant")
    st.caption("Ask in Swedish or English. Every claim cites a passage you can open and check.")
    st.session_state.setdefault("messages", [])
    st.session_state.setdefault("upload_round", 0)
    try:
        settings = load_settings()
        who, role = signed_in_user(settings)
        assistant = get_assistant(settings_key(settings), settings)
        build_index_if_missing(assistant)
        search_filter, export_slot = sidebar(assistant, who, role)
    except (ConfigError, CatalogError, IndexError_, FileNotFoundError) as exc:
        st.error(f"The assistant cannot start: {exc}")
        st.stop()

    question = st.chat_input("Ask about the documents…")
    if question:
        # stored before anything slow: a run cut short by the next question cannot lose it
        st.session_state.messages.append({"role": "user", "content": question})
    show_conversation(assistant, search_filter)
    export_button(export_slot)


def export_button(slot) -> None:
    slot.download_button(
        "Export conversation (Markdown)",
        conversation_markdown([m.get("answer") or m["unanswered"]
                               for m in st.session_state.messages if m["role"] == "assistant"]),
        file_name="conversation.md", mime="text/markdown",
        disabled=not st.session_state.messages,
    )


def show_conversation(assistant: Assistant, search_filter: SearchFilter) -> None:
    """Every message in order; a question without an answer yet (new, or one whose run was cut
    short by a question sent meanwhile) is answered where it stands."""
    messages = st.session_state.messages
    i = 0
    while i < len(messages):
        message = messages[i]
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                st.text(message["content"])
            elif "answer" in message:
                show_answer(message["answer"])
            else:
                st.error(message["unanswered"].reason)
        answered = i + 1 < len(messages) and messages[i + 1]["role"] == "assistant"
        if message["role"] == "user" and not answered:
            with st.chat_message("assistant"):
                reply = answer_question(assistant, message["content"], search_filter,
                                        history_before(messages, i))
                # stored the moment it exists, before it is drawn
                messages.insert(i + 1, reply)
                if "answer" in reply:
                    show_answer(reply["answer"])
                else:
                    st.error(reply["unanswered"].reason)
            i += 1
        i += 1


def history_before(messages: list[dict], end: int) -> list[Turn]:
    return [Turn(m["answer"].question, m["answer"].text, m["answer"].searched_for)
            for m in messages[:end] if "answer" in m]


def answer_question(assistant: Assistant, question: str, search_filter: SearchFilter,
                    history: list[Turn]) -> dict:
    live = st.empty()
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        streamed.append(piece)
        live.markdown(escape_markdown("".join(streamed)) + " ▌")

    try:
        answer = assistant.ask(question, top_k=st.session_state.top_k,
                               search_filter=search_filter, backend=st.session_state.backend,
                               on_token=on_token, history=history)
    except (ValueError, IndexError_) as exc:
        return {"role": "assistant",
                "unanswered": Unanswered(question, str(exc), detect_language(question))}
    finally:
        live.empty()  # the checked answer replaces the raw stream
    return {"role": "assistant", "answer": answer}

main()
