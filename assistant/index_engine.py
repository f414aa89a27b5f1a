"""The index interface: what indexing, retrieval and evaluation need from an index engine.

Two engines implement it: the embedded snapshot store (`store.py`: FAISS, bm25s and SQLite in a
folder, the default) and Milvus (`milvus_store.py`: Milvus Lite in a local file, or a Milvus
server). `open_engine` picks one from the `index_uri` setting; callers never ask which they have.
Callers see chunk ids only, never an engine's row positions.

A new engine implements `IndexEngine`, `IndexReader` and `IndexWriter` below and raises only
subclasses of `IndexError_`.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Mapping, Protocol, Sequence

import numpy as np
from pydantic import SecretStr

from .latent_terms import LatentVector
from .records import Chunk, Document
from .sentence_vectors import SentenceVector, SentenceVectors
from .text import ANALYZER

if TYPE_CHECKING:
    from .config import Settings

SCHEMA_VERSION = 1
MILVUS_LITE_PREFIX = "milvus-lite:"
FAULT_ENV = "ASSISTANT_FAULT_INJECT"
# Less term-frequency saturation and length normalisation than bm25s's defaults (1.5, 0.75):
# measured on the evaluation, hit@5 0.89 -> 0.93 on the bundled corpus and MRR@10 0.72 -> 0.74
# with the distractors. Part of the manifest's analyzer id, so a change rebuilds BM25.
BM25_K1, BM25_B = 0.9, 0.4
KEYWORD_INDEX = f"{ANALYZER};bm25-k1={BM25_K1}-b={BM25_B}"


def fault_point(name: str) -> None:
    """Die here, as a power cut would, when the crash tests ask for it."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class IndexError_(RuntimeError):
    """Base of the index's own errors (the name avoids shadowing the builtin)."""


class IndexMissingError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


class IndexLockedError(IndexError_):
    pass


class IndexUnreachableError(IndexError_):
    pass


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    embedder_id: str
    dim: int
    chunk_tokens: int
    chunk_overlap: int
    tokenizer: str
    analyzer: str
    created_at: str
    documents: int = 0
    chunks: int = 0
    latent_terms: str = ""  # id of the sparse head whose vectors are stored; "" for none
    text_repair: str = ""  # id of the OCR repair applied to chunk texts before embedding
    sentence_vectors: str = ""  # recipe of the reader's sentence vectors kept; "" for none

    def vector_key(self) -> tuple:
        """What the stored vectors and chunks depend on: a change needs a rebuild."""
        return (self.embedder_id, self.dim, self.chunk_tokens, self.chunk_overlap, self.tokenizer,
                self.text_repair)

    def describe(self) -> str:
        latent = f"latent terms {self.latent_terms}" if self.latent_terms else "no latent terms"
        repair = f"OCR repair {self.text_repair}" if self.text_repair else "no OCR repair"
        return (f"embedder {self.embedder_id} (dim {self.dim}), chunks of "
                f"{self.chunk_tokens} tokens with {self.chunk_overlap} overlap, {latent}, "
                f"{repair}, text analyzer {self.analyzer}")


@dataclass(frozen=True)
class DocumentRow:
    source: str
    sha256: str
    title: str
    kind: str
    organisation: str | None
    year: str | None
    doc_kind: str | None
    language: str | None
    chunks: int
    indexed_at: str


Hits = list[tuple[int, float]]  # (chunk id, score), best first


class IndexReader(Protocol):
    """One consistent view of an index, as retrieval and evaluation read it."""

    manifest: Manifest
    documents: Mapping[str, DocumentRow]

    @property
    def name(self) -> str:
        """Identifies this view; a view opened after a change has another name."""

    def __len__(self) -> int:
        """Number of chunks."""

    def check_compatible(self, expected: Manifest, for_writing: bool = False) -> None:
        """Raise IndexMismatchError for an index these settings cannot use."""

    def dense_search(self, query: np.ndarray, k: int,
                     sources: Collection[str] | None = None) -> Hits:
        """The `k` chunks of highest inner product with `query` (within `sources` when given)."""

    def keyword_search(self, query_terms: Sequence[str], k: int,
                       sources: Collection[str] | None = None) -> Hits:
        """The `k` chunks of highest positive BM25 score for the analysed query terms."""

    def keyword_scores(self, query_terms: Sequence[str], chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 score of each of `chunk_ids` (0 for a chunk without any of the terms)."""

    def dense_scores(self, query: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """Inner product of `query` with each of `chunk_ids`' vectors."""

    def term_idf(self, query_terms: Sequence[str]) -> dict[str, float]:
        """BM25's inverse document frequency per term; a term no chunk has gets the highest."""

    def latent_terms(self, chunk_ids: Sequence[int]) -> dict[int, LatentVector]:
        """The stored latent-term vectors of `chunk_ids` (empty when the index keeps none)."""

    def sentence_vectors(self, texts: Sequence[str],
                         with_latent: bool = True) -> dict[str, SentenceVector]:
        """The reader's vectors of those of `texts` (sentences as embedded) that the index
        keeps, made by `manifest.sentence_vectors`' recipe (empty when it keeps none); their
        latent terms None unless `with_latent`."""

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        ...

    def close(self) -> None:
        ...


class IndexWriter(Protocol):
    """Brings an index to a new state; a context manager. Changes become visible as the engine
    says (all at `commit()` for the embedded store, document by document on Milvus); an exit
    without `commit()` leaves every document either as it was or fully updated."""

    manifest: Manifest

    def __enter__(self) -> "IndexWriter":
        ...

    def __exit__(self, exc_type, exc, tb) -> None:
        ...

    def known_documents(self) -> dict[str, DocumentRow]:
        ...

    def remove_document(self, source: str) -> int:
        """Remove a document and its chunks; returns the number of chunks removed."""

    def put_document(self, document: Document, chunks: list[Chunk], vectors: np.ndarray,
                     latent: Sequence[LatentVector] | None = None,
                     sentences: SentenceVectors | None = None) -> None:
        """Insert or replace a document with its chunks, vectors and latent-term vectors, and
        the vectors of its sentences where the writer's manifest names a recipe for them."""

    def update_metadata(self, document: Document) -> None:
        """Refresh title and catalog fields of an unchanged document (no re-embedding)."""

    def commit(self) -> IndexReader:
        ...


class IndexEngine(Protocol):
    """Where an index lives: opens readers and writers."""

    @property
    def location(self) -> str:
        """The folder or URI, for messages."""

    def exists(self) -> bool:
        ...

    def version(self) -> str | None:
        """Changes whenever a reader opened now would see something else; None: no index."""

    def open(self) -> IndexReader:
        ...

    def writer(self, manifest: Manifest, rebuild: bool = False, wait_s: float = 0) -> IndexWriter:
        ...


def engine_for(settings: "Settings") -> IndexEngine:
    """The engine the settings name."""
    from .config import index_location

    return open_engine(index_location(settings), settings.milvus_token,
                       settings.milvus_dense_index)


def open_engine(index_uri: str | Path, token: SecretStr | None = None,
                dense_index: str = "FLAT") -> IndexEngine:
    """The engine for `index_uri`: a folder path (the embedded store), `milvus-lite:PATH`
    (Milvus Lite in a local file) or `http(s)://HOST:PORT` (a Milvus server, with `token`);
    `dense_index` is the Milvus index type of the dense vectors (FLAT: exact)."""
    uri = str(index_uri).strip()
    if not uri:
        raise IndexUnreachableError("index_uri is empty: give a folder, milvus-lite:PATH or "
                                    "http://HOST:19530")
    lowered = uri.lower()
    if lowered.startswith(MILVUS_LITE_PREFIX) or lowered.startswith(("http://", "https://")):
        from .milvus_store import MilvusEngine

        return MilvusEngine(uri, token.get_secret_value() if token else None, dense_index)
    if "://" in uri:
        raise IndexUnreachableError(
            f"index_uri {uri!r}: unknown scheme; give a folder, milvus-lite:PATH or "
            "http(s)://HOST:PORT")
    from .store import IndexStore

    return IndexStore(Path(uri))


class LiveIndex:
    """The view a long-running reader (UI, API, evaluation) should use now.

    Each call to `snapshot()` asks the engine for its version and moves to a fresh view once it
    has changed; until then it keeps answering from the one it has.
    """

    def __init__(self, engine: IndexEngine, expected: Manifest | None = None) -> None:
        self.engine = engine
        self.expected = expected
        self._view: IndexReader | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> IndexReader:
        with self._lock:
            version = self.engine.version()
            if self._view is None or (version is not None and version != self._view.name):
                fresh = self.engine.open()
                if self.expected is not None:
                    fresh.check_compatible(self.expected)
                self._view = fresh
            return self._view
