"""Latent-term vectors: packing, scoring, storage with the chunks, and the re-ranking stage."""

import sqlite3

import numpy as np
import pytest

from assistant.latent_terms import FEATURES_KEPT, LatentVector
from assistant.retrieval import latent_rerank
from assistant.index_engine import IndexCorruptError, IndexMismatchError
from assistant.store import IndexStore

from .conftest import make_settings


def test_the_strongest_features_are_kept_sorted_by_id():
    rng = np.random.default_rng(3)
    features = rng.choice(16384, size=256, replace=False)
    weights = rng.random(256).astype(np.float32) + 0.01
    vector = LatentVector.from_sparse(features, weights)
    assert len(vector.features) == FEATURES_KEPT
    assert np.all(np.diff(vector.features.astype(int)) > 0)
    threshold = np.sort(weights)[-FEATURES_KEPT]
    assert set(vector.features.tolist()) == set(features[weights >= threshold].tolist())


def test_blobs_round_trip_and_dot_matches_the_dense_product():
    a = LatentVector.from_sparse(np.array([5, 1, 900]), np.array([0.5, 2.0, 1.0]))
    b = LatentVector.from_sparse(np.array([900, 5, 7]), np.array([3.0, 0.25, 9.0]))
    assert a.dot(b) == pytest.approx(0.5 * 0.25 + 1.0 * 3.0)
    again = LatentVector.from_blobs(*a.to_blobs())
    assert again.features.tolist() == [1, 5, 900] and again.dot(b) == pytest.approx(a.dot(b))
    dense_a, dense_b = np.zeros(1000), np.zeros(1000)
    dense_a[a.features] = a.weights
    dense_b[b.features] = b.weights
    assert a.dot(b) == pytest.approx(float(dense_a @ dense_b), rel=1e-3)


def test_mismatched_blobs_and_ids_are_refused():
    with pytest.raises(ValueError, match="3 latent features but 2 weights"):
        LatentVector.from_blobs(np.arange(3, dtype="<u2").tobytes(), np.ones(2, "<f2").tobytes())
    with pytest.raises(ValueError, match="16 bits"):
        LatentVector.from_sparse(np.array([70000]), np.array([1.0]))


def test_the_bundled_head_matches_a_question_to_its_passage_across_languages(embedder):
    assert embedder.latent_id
    passage, other = embedder.latent_terms([
        "Inom Jobbcenter arbetar man med 12 stycken jobbpakker där språkutbildning, "
        "branschutbildning, vägledning och praktik leder till anställning.",
        "Regeringen sänker skatten på drivmedel och höjer barnbidraget från januari.",
    ])
    for question in ("Vad gjorde Gladsaxe med jobbpakker?",
                     "What job packages did the job centre offer?"):
        q = embedder.latent_terms([question])[0]
        assert q.dot(passage) > 2 * q.dot(other)


def test_rerank_reorders_only_the_head_and_keeps_the_rest_below():
    fused = {1: 3.0, 2: 2.0, 3: 1.0, 4: 0.5, 5: -1.0}
    vectors = {i: LatentVector.from_sparse(np.array([i]), np.array([1.0])) for i in fused}
    query = LatentVector.from_sparse(np.array([3]), np.array([5.0]))  # matches chunk 3 only
    asked = []

    def latent_of(ids):
        asked.append(list(ids))
        return {i: vectors[i] for i in ids}

    rescored = latent_rerank(fused, latent_of, query, candidates=3, weight=2.0)
    order = sorted(rescored, key=lambda i: -rescored[i])
    assert asked == [[1, 2, 3]]
    assert order[0] == 3 and set(order[:3]) == {1, 2, 3} and order[3:] == [4, 5]
    unchanged = latent_rerank(fused, latent_of, query, candidates=3, weight=0.0)
    assert sorted(unchanged, key=lambda i: -unchanged[i]) == [1, 2, 3, 4, 5]


def _latent_rows(index_dir):
    store = IndexStore(index_dir)
    db = sqlite3.connect(store.snapshots_dir / store.current_name() / "index.sqlite")
    try:
        return dict(db.execute(
            "SELECT c.source, COUNT(l.chunk_id) FROM chunks c "
            "LEFT JOIN latent_terms l ON l.chunk_id = c.chunk_id GROUP BY c.source").fetchall()), \
            db.execute("SELECT COUNT(*) FROM latent_terms").fetchone()[0]
    finally:
        db.close()


def test_every_chunk_is_stored_with_its_latent_terms_and_leaves_with_its_document(
        small_assistant, small_corpus):
    report = small_assistant.index()
    per_source, total = _latent_rows(small_assistant.settings.index_dir)
    assert total == report.total_chunks and all(n > 0 for n in per_source.values())
    (small_corpus / "stockholm-studieresa-toronto.txt").unlink()
    small_assistant.index()
    per_source, total = _latent_rows(small_assistant.settings.index_dir)
    assert "stockholm-studieresa-toronto.txt" not in per_source
    assert total == sum(per_source.values()) == len(small_assistant.snapshot())


def test_missing_latent_terms_are_reported_as_a_damaged_index(small_assistant):
    from assistant.pipeline import Assistant

    small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    path = store.snapshots_dir / store.current_name() / "index.sqlite"
    db = sqlite3.connect(path)
    db.execute("DELETE FROM latent_terms WHERE chunk_id IN (SELECT MIN(chunk_id) FROM chunks)")
    db.commit()
    db.close()
    with pytest.raises(IndexCorruptError, match="index.sqlite has latent terms for") as err:
        Assistant(small_assistant.settings, embedder=small_assistant.embedder).snapshot()
    assert "--rebuild" in str(err.value)


def test_an_unreadable_latent_vector_is_reported_and_a_rebuild_restores_the_index(small_assistant):
    from assistant.pipeline import Assistant

    question = "Vilken ambassadör medverkar på seminariet den 14 april?"
    small_assistant.index()
    store = IndexStore(small_assistant.settings.index_dir)
    db = sqlite3.connect(store.snapshots_dir / store.current_name() / "index.sqlite")
    db.execute("UPDATE latent_terms SET weights = x'00'")  # odd length: not float16 weights
    db.commit()
    db.close()
    reader = Assistant(small_assistant.settings, embedder=small_assistant.embedder)
    with pytest.raises(IndexCorruptError, match="index.sqlite: unreadable latent terms"):
        reader.ask(question)
    reader.index(rebuild=True)
    assert "Volkoff" in reader.ask(question).text


def test_turning_the_rerank_off_needs_no_rebuild_to_read_but_one_to_write(
        small_corpus, tmp_path, embedder):
    from assistant.pipeline import Assistant

    question = "Vilken ambassadör medverkar på seminariet den 14 april?"
    index = tmp_path / "index"
    Assistant(make_settings(small_corpus, index), embedder=embedder).index()
    plain = Assistant(make_settings(small_corpus, index, latent_rerank=False), embedder=embedder)
    assert "Volkoff" in plain.ask(question).text
    with pytest.raises(IndexMismatchError, match="no latent terms") as err:
        plain.index()
    assert "--rebuild" in str(err.value)
    report = plain.index(rebuild=True)
    assert _latent_rows(index)[1] == 0 and report.total_chunks > 0
    assert "Volkoff" in plain.ask(question).text
