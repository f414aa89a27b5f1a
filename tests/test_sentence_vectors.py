"""The reader's sentence vectors, made when a document is indexed and kept in the index."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from assistant.index_engine import IndexCorruptError
from assistant.pipeline import Assistant
from assistant.store import Snapshot
from assistant.sentence_vectors import (as_stored, best_sentence_cosines, chunk_sentences,
                                        document_sentences, embedded_text, sentence_recipe)

QUESTION = "Vad gjorde Gladsaxe med jobbpakker?"


class CountingEmbedder:
    """The real embedder, counting the sentences it is asked to embed as passages."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.passages = 0

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed_with_latent(self, texts, is_query):
        if not is_query:
            self.passages += len(texts)
        return self._embedder.embed_with_latent(texts, is_query)

    def embed_passages(self, texts):
        self.passages += len(texts)
        return self._embedder.embed_passages(texts)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder) -> Assistant:
    """Two bundled documents, indexed once for the tests that only read."""
    from tests.conftest import CORPUS, make_settings

    corpus = tmp_path_factory.mktemp("corpus")
    for name in ("vanorter-gladsaxe-pirkkala-ski-solna-2008.txt",
                 "stockholm-studieresa-toronto.txt", "catalog.toml"):
        shutil.copy(CORPUS / name, corpus / name)
    assistant = Assistant(make_settings(corpus, tmp_path_factory.mktemp("index")),
                          embedder=embedder)
    assistant.index()
    return assistant


def _read_texts(assistant, question: str) -> list[str]:
    retrieval = assistant.retrieve(question)
    candidates = assistant.answerer.read(retrieval.question, retrieval.passages, retrieval.idf,
                                         retrieval.query_vector, retrieval.dense_margin,
                                         retrieval.language, retrieval.query_latent)
    return [embedded_text(c.read_as) for c in candidates]


def test_the_index_keeps_the_vector_of_every_sentence_the_reader_reads(indexed, embedder):
    snapshot = indexed.snapshot()
    assert snapshot.manifest.sentence_vectors == sentence_recipe(embedder)
    texts = _read_texts(indexed, QUESTION)
    stored = snapshot.sentence_vectors(texts)
    assert texts and set(stored) == set(texts)
    dense, latent = embedder.embed_with_latent(texts, is_query=False)
    for text, vector, features in zip(texts, as_stored(dense), latent):
        kept, kept_latent = stored[text]
        assert np.allclose(kept, vector, atol=2e-3)
        assert abs(kept_latent.dot(features) - features.dot(features)) < 0.01 * features.dot(features)
    assert snapshot.sentence_vectors(["a sentence no document holds"]) == {}


def test_an_answer_from_the_kept_vectors_embeds_no_sentence_and_equals_the_embedded_one(
        indexed, embedder, monkeypatch):
    indexed.answerer._sentence_vectors.clear()
    counting = CountingEmbedder(embedder)
    monkeypatch.setattr(indexed.answerer, "embedder", counting)
    from_index = indexed.ask(QUESTION)
    assert counting.passages == 0
    assert not from_index.abstained and from_index.citations

    retrieval = indexed.retrieve(QUESTION)
    retrieval.stored_sentences = None  # as from an index that keeps none
    indexed.answerer._sentence_vectors.clear()
    embedded_now = indexed.answer(retrieval)
    assert counting.passages > 0
    assert embedded_now.text == from_index.text


def test_a_changed_or_removed_document_takes_its_sentence_vectors_with_it(small_assistant,
                                                                           small_corpus):
    small_assistant.index()
    toronto = small_corpus / "stockholm-studieresa-toronto.txt"
    old_texts = document_sentences([toronto.read_text("utf-8")])
    added = "Studieresan till Toronto avslutades med ett gemensamt seminarium om mentorskap."
    toronto.write_text(toronto.read_text("utf-8") + "\n\n" + added + "\n", "utf-8")
    small_assistant.index()
    assert added in small_assistant.snapshot().sentence_vectors([added])

    toronto.unlink()
    small_assistant.index()
    snapshot = small_assistant.snapshot()
    assert snapshot.sentence_vectors([added]) == {}
    others = document_sentences(
        [p.read_text("utf-8") for p in small_corpus.glob("*.txt")])
    only_toronto = [t for t in old_texts if t not in set(others)]
    assert only_toronto and snapshot.sentence_vectors(only_toronto) == {}


def test_unreadable_sentence_vectors_are_a_clear_error(indexed, tmp_path):
    texts = _read_texts(indexed, QUESTION)
    copy = tmp_path / "snapshot"
    shutil.copytree(indexed.snapshot().path, copy)
    with sqlite3.connect(copy / "index.sqlite") as db:
        db.execute("UPDATE sentence_vectors SET dense = x'0000'")
    damaged = Snapshot(copy)
    with pytest.raises(IndexCorruptError, match="index.sqlite: unreadable sentence vectors"):
        damaged.sentence_vectors(texts)
    damaged.close()


def test_a_texts_best_sentence_cosine_comes_from_its_stored_sentence_vectors():
    stored = {"Ett.": (np.array([1.0, 0.0], dtype=np.float32), None),
              "Två.": (np.array([0.6, 0.8], dtype=np.float32), None)}
    asked = []

    def lookup(texts):
        asked.extend(texts)
        return {t: stored[t] for t in texts if t in stored}

    best = best_sentence_cosines({1: "Ett. Två.", 2: "Tre fyra fem."},
                                 np.array([0.0, 1.0]), lookup)
    assert best == pytest.approx({1: 0.8})  # nothing stored of text 2: it is left out
    assert sorted(asked) == sorted(["Ett.", "Två.", "Tre fyra fem."])  # asked for at once


def test_a_passage_is_as_close_as_its_closest_sentence(indexed):
    """With `sentence_dense`, a passage's dense score is the better of its own cosine and that
    of its best sentence; without it, its own."""
    question = "Hur många jobbpakker arbetar Jobbcenter i Gladsaxe med?"
    snapshot = indexed.snapshot()
    query = indexed.retriever.encode_question(snapshot, question)
    on = indexed.retriever.retrieve(snapshot, question, 5, query=query)
    plain = indexed.settings.model_copy(update={"sentence_dense": False})
    off = type(indexed.retriever)(indexed.embedder, plain).retrieve(snapshot, question, 5,
                                                                    query=query)
    own = snapshot.dense_scores(query.dense, [p.chunk_id for p in on.passages + off.passages])
    for p in off.passages:
        assert p.dense_score == pytest.approx(own[p.chunk_id])
    lifted = 0
    for p in on.passages:
        sentences = chunk_sentences(p.text)
        kept = snapshot.sentence_vectors(list(sentences))
        assert set(kept) == set(sentences)  # the index keeps every sentence the reader reads
        dense_only = snapshot.sentence_vectors(list(sentences), with_latent=False)
        assert all(dense_only[s][1] is None and (dense_only[s][0] == kept[s][0]).all()
                   and kept[s][1] is not None for s in sentences)
        best = max(float(kept[s][0] @ query.dense) for s in sentences)
        assert p.dense_score == pytest.approx(max(own[p.chunk_id], best))
        lifted += best > own[p.chunk_id]
    assert lifted  # a short sentence about the question lies closer than its whole passage
