"""The Milvus engine against a real Milvus Lite server process on loopback: the same answers as
the embedded store, incremental sync, filters, killed syncs, and clear errors for bad URIs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from assistant.config import Settings
from assistant.index_engine import FAULT_ENV, IndexError_, IndexUnreachableError, open_engine
from assistant.milvus_store import CHUNKS, SENTENCES, TERMS, MilvusEngine
from assistant.pipeline import Assistant
from assistant.retrieval import SearchFilter
from assistant.sentence_vectors import document_sentences, sentence_key, sentence_recipe
from assistant.text import terms

from .conftest import CORPUS, ROOT, free_port

QUESTIONS = [
    "Vad gjorde Gladsaxe med jobbpakker?",
    "Vilka städer besökte Stockholms studieresa?",
    "What did Pirkkala do for refugees?",
    "Hur många deltagare hade projektet?",
]
NEW_DOC = "Kungsbacka kommun erbjuder samhällsorientering på arabiska och dari varje vecka."


@pytest.fixture
def milvus_server(tmp_path):
    """A Milvus Lite server process (its gRPC server mode) on a free loopback port."""
    port = free_port()
    log = open(tmp_path / "milvus.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from milvus_lite.cmdline import main; sys.exit(main())",
         "server", "--data-dir", str(tmp_path / "milvus-data"), "--host", "127.0.0.1",
         "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None, (tmp_path / "milvus.log").read_text()
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the Milvus Lite server did not start")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _milvus_assistant(corpus, uri, embedder) -> Assistant:
    return Assistant(Settings(corpus_dir=corpus, index_uri=uri), embedder=embedder)


def _ranking(assistant, question, **kwargs):
    found = assistant.retrieve_followup(question, [], "extractive", **kwargs)
    return [(p.source, p.text) for p in found.passages]


def test_answers_on_milvus_equal_the_embedded_engines(corpus_assistant, milvus_server, embedder):
    on_milvus = _milvus_assistant(CORPUS, milvus_server, embedder)
    report = on_milvus.index()
    assert report.total_chunks == len(corpus_assistant.snapshot())
    assert set(on_milvus.snapshot().documents) == set(corpus_assistant.snapshot().documents)
    for question in QUESTIONS:
        assert _ranking(on_milvus, question) == _ranking(corpus_assistant, question), question
        embedded, milvus = corpus_assistant.ask(question), on_milvus.ask(question)
        assert milvus.text == embedded.text
        assert [(c.n, c.passage.source, c.quote) for c in milvus.citations] == \
            [(c.n, c.passage.source, c.quote) for c in embedded.citations]
    reader, snapshot = on_milvus.snapshot(), corpus_assistant.snapshot()
    # the sentence vectors the reader and retrieval read are the embedded store's, as stored
    assert reader.manifest.sentence_vectors == sentence_recipe(embedder)
    texts = document_sentences(c.text for c in snapshot.chunks(list(range(40))).values())
    kept, milvus_kept = snapshot.sentence_vectors(texts), reader.sentence_vectors(texts)
    assert texts and set(milvus_kept) == set(kept) == set(texts)
    dense_only = reader.sentence_vectors(texts, with_latent=False)
    assert all(dense_only[t][1] is None for t in texts)
    for text in texts:
        assert (milvus_kept[text][0] == kept[text][0]).all()
        assert (dense_only[text][0] == kept[text][0]).all()
        assert milvus_kept[text][1].dot(kept[text][1]) == \
            pytest.approx(kept[text][1].dot(kept[text][1]))
    words = ["jobbpakk", "gladsax", "finnsinteiord"]
    assert reader.term_idf(words) == pytest.approx(snapshot.term_idf(words), rel=1e-6)


def test_filters_restrict_to_the_named_documents(milvus_server, small_corpus, embedder):
    # a file name that a filter expression must quote and escape
    odd = 'o\'brien "rapport" \\ 2024.txt'
    (small_corpus / odd).write_text(NEW_DOC, encoding="utf-8")
    assistant = _milvus_assistant(small_corpus, milvus_server, embedder)
    assistant.index()
    found = _ranking(assistant, "samhällsorientering på arabiska",
                     search_filter=SearchFilter(sources=frozenset({odd})))
    assert found and {source for source, _ in found} == {odd}
    (small_corpus / odd).unlink()
    assert assistant.index().removed == [odd]
    _assert_consistent(milvus_server)
    only = "stockholm-studieresa-toronto.txt"
    found = _ranking(assistant, "Vad gjorde Gladsaxe med jobbpakker?",
                     search_filter=SearchFilter(sources=frozenset({only})))
    assert found and {source for source, _ in found} == {only}
    organisation = assistant.snapshot().documents[only].organisation
    assert organisation
    by_organisation = _ranking(assistant, "jobbpakker", search_filter=SearchFilter(
        organisations=frozenset({organisation})))
    assert {source for source, _ in by_organisation} == {only}
    assert _ranking(assistant, "jobbpakker",
                    search_filter=SearchFilter(years=frozenset({"1850"}))) == []


def _chunk_rows(uri):
    engine = MilvusEngine(uri)
    return list(engine.scan(CHUNKS, ["source", "version"]))


def _assert_consistent(uri):
    """Every stored chunk belongs to its document's live version, and so does every sentence,
    each of that version's chunks having its sentences stored; the term counts add up."""
    engine = open_engine(uri)
    reader = engine.open()
    rows = _chunk_rows(uri)
    live = {source: row for source, row in reader.documents.items()}
    assert sorted(r["source"] for r in rows) == sorted(
        s for s, d in live.items() for _ in range(d.chunks))
    assert len(reader) == len(rows)
    df = {}
    for row in engine.scan(CHUNKS, ["bm25"]):
        for term, weight in row["bm25"].items():
            if weight > 0:
                df[int(term)] = df.get(int(term), 0) + 1
    stored = {int(r["tid"]): int(r["df"]) for r in engine.scan(TERMS, ["tid", "df"])}
    assert stored == df
    sentences = list(engine.scan(SENTENCES, ["key", "source", "version"]))
    assert all(reader._live.get(r["source"]) == r["version"] for r in sentences)
    for source in live:
        texts = [r["text"] for r in engine.scan(CHUNKS, ["text", "version"],
                                                f'source == "{source}"')
                 if r["version"] == reader._live[source]]
        assert sorted(r["key"] for r in sentences if r["source"] == source) == \
            sorted(sentence_key(t).hex() for t in document_sentences(texts)), source


def test_incremental_sync_adds_updates_and_deletes(milvus_server, small_corpus, embedder):
    assistant = _milvus_assistant(small_corpus, milvus_server, embedder)
    first = assistant.index()
    assert len(first.added) == 2
    assert assistant.index().unchanged == 2  # nothing re-embedded
    (small_corpus / "kungsbacka.txt").write_text(NEW_DOC, encoding="utf-8")
    report = assistant.index()
    assert report.added == ["kungsbacka.txt"] and report.embedded_chunks == 1
    answer = assistant.ask("Vilka språk erbjuder Kungsbacka samhällsorientering på?")
    assert answer.citations and answer.citations[0].passage.source == "kungsbacka.txt"
    (small_corpus / "kungsbacka.txt").write_text(NEW_DOC.replace("dari", "somaliska"), "utf-8")
    assert assistant.index().updated == ["kungsbacka.txt"]
    answer = assistant.ask("Vilka språk erbjuder Kungsbacka samhällsorientering på?")
    assert "somaliska" in answer.text and "dari" not in answer.text
    (small_corpus / "kungsbacka.txt").unlink()
    assert assistant.index().removed == ["kungsbacka.txt"]
    assert "kungsbacka.txt" not in assistant.snapshot().documents
    # a new title in the catalog re-weights the document's BM25 (the title is part of it) without
    # re-embedding, as the embedded store does
    catalog = small_corpus / "catalog.toml"
    catalog.write_text(catalog.read_text("utf-8").replace(
        'title = "Studieresa till Toronto', 'title = "Zanzibarresan till Toronto'), "utf-8")
    report = assistant.index()
    assert report.unchanged == 2 and report.embedded_chunks == 0
    reader = assistant.snapshot()
    assert reader.documents["stockholm-studieresa-toronto.txt"].title.startswith("Zanzibarresan")
    hits = reader.chunks([i for i, _ in reader.keyword_search(terms("Zanzibarresan"), 50)])
    assert {c.source for c in hits.values()} == {"stockholm-studieresa-toronto.txt"}
    assert len(hits) == reader.documents["stockholm-studieresa-toronto.txt"].chunks
    _assert_consistent(milvus_server)


def test_an_index_made_before_sentence_vectors_answers_and_syncs_without_them(
        milvus_server, small_corpus, embedder):
    from dataclasses import asdict, replace

    assistant = _milvus_assistant(small_corpus, milvus_server, embedder)
    assistant.index()
    engine = MilvusEngine(milvus_server)
    engine.call("drop_collection", SENTENCES)
    engine.put_meta(manifest=asdict(replace(assistant.snapshot().manifest, sentence_vectors="")))
    old = _milvus_assistant(small_corpus, milvus_server, embedder)
    assert old.snapshot().sentence_vectors(["Inom Jobbcenter arbetar man."]) == {}
    assert "12 stycken jobbpakker" in old.ask("Vad gjorde Gladsaxe med jobbpakker?").text
    (small_corpus / "kungsbacka.txt").write_text(NEW_DOC, encoding="utf-8")
    assert old.index().added == ["kungsbacka.txt"]
    assert SENTENCES not in engine.collections()
    assert old.snapshot().manifest.sentence_vectors == ""
    answer = old.ask("Vilka språk erbjuder Kungsbacka samhällsorientering på?")
    assert answer.citations and answer.citations[0].passage.source == "kungsbacka.txt"


def _index_in_subprocess(corpus, uri, fault=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "assistant", "index", "--corpus", str(corpus), "--index-uri", uri],
        env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("fault", ["milvus-chunks-written", "milvus-document-written",
                                   "milvus-document-removed", "milvus-before-terms"])
def test_killed_sync_leaves_each_document_whole_and_the_next_repairs(
        milvus_server, small_corpus, embedder, fault):
    assistant = _milvus_assistant(small_corpus, milvus_server, embedder)
    assistant.index()
    before = {s: d.sha256 for s, d in assistant.snapshot().documents.items()}
    changed = small_corpus / "stockholm-studieresa-toronto.txt"
    changed.write_text(changed.read_text("utf-8") + "\n\nTillägg: resan följdes av ett seminarium "
                       "i Kungsbacka.\n", encoding="utf-8")
    (small_corpus / "kungsbacka.txt").write_text(NEW_DOC, encoding="utf-8")
    if fault == "milvus-document-removed":
        (small_corpus / "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt").unlink()

    killed = _index_in_subprocess(small_corpus, milvus_server, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    # what a reader sees now: every document either as before or fully updated
    reader = open_engine(milvus_server).open()
    for source, document in reader.documents.items():
        chunks = [r for r in _chunk_rows(milvus_server)
                  if r["source"] == source and r["version"] == reader._live[source]]
        assert len(chunks) == document.chunks, source
        assert source == "kungsbacka.txt" or document.sha256 == before[source] or \
            source == changed.name
    answer = assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    assert answer.citations or fault == "milvus-document-removed"

    finished = _index_in_subprocess(small_corpus, milvus_server)
    assert finished.returncode == 0, finished.stderr
    _assert_consistent(milvus_server)
    documents = open_engine(milvus_server).open().documents
    assert "kungsbacka.txt" in documents
    assert documents[changed.name].sha256 != before[changed.name]


def test_a_second_writer_is_refused_while_one_holds_the_lease(milvus_server, small_corpus,
                                                              embedder):
    assistant = _milvus_assistant(small_corpus, milvus_server, embedder)
    assistant.index()
    manifest = assistant.live.expected
    other = open_engine(milvus_server)
    with assistant.store.writer(manifest):
        with pytest.raises(IndexError_, match="another index build is running"):
            with other.writer(manifest):
                pass
    with other.writer(manifest):  # released at the end of the first
        pass


@pytest.mark.parametrize("uri, message", [
    ("ftp://example.org/index", "unknown scheme"),
    ("milvus-lite:index.sqlite", "ending in .db"),
    ("http://127.0.0.1:1", "cannot reach the Milvus index at http://127.0.0.1:1"),
])
def test_bad_index_uri_gives_one_clear_error(uri, message, tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "Vad gjorde Gladsaxe?", "--index-uri", uri],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


def test_milvus_lite_in_a_local_file_with_an_hnsw_index(tmp_path, small_corpus, embedder):
    uri = f"milvus-lite:{tmp_path / 'index.db'}"
    assistant = Assistant(Settings(corpus_dir=small_corpus, index_uri=uri,
                                   milvus_dense_index="HNSW"), embedder=embedder)
    assistant.index()
    assert assistant.store.call("describe_index", CHUNKS, "dense")["index_type"] == "HNSW"
    answer = assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    assert answer.citations and "jobbpakke" in answer.text
    with pytest.raises(IndexUnreachableError):
        open_engine("milvus-lite:")
    shutil.rmtree(tmp_path / "index.db", ignore_errors=True)
