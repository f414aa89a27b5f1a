"""The embedded index engine (the default): immutable snapshots of FAISS vectors, BM25, and SQLite document/chunk tables.

Layout of the index folder::

    CURRENT                 name of the live snapshot (replaced atomically)
    build.lock              one writer at a time
    snapshots/<name>/       manifest.json, index.sqlite, vectors.faiss, bm25/

A writer copies the live snapshot into a temporary folder, applies its changes there, renames the
folder into place and only then points CURRENT at it. A crash at any moment leaves CURRENT on a
complete snapshot; readers keep the snapshot they opened until they refresh.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Collection, Sequence

import bm25s
import faiss
import numpy as np
from filelock import FileLock, Timeout

from .index_engine import (
    BM25_B,
    BM25_K1,
    SCHEMA_VERSION,
    DocumentRow,
    Hits,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    Manifest,
    fault_point,
)
from .latent_terms import LatentVector
from .records import Chunk, Document
from .sentence_vectors import (VECTOR_DTYPE, SentenceVector, SentenceVectors,
                               sentence_key)
from .text import indexed_terms

CURRENT_FILE = "CURRENT"
log = logging.getLogger(__name__)
LOCK_FILE = "build.lock"
SNAPSHOTS = "snapshots"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
    organisation TEXT, year TEXT, doc_kind TEXT, language TEXT, indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY, source TEXT NOT NULL REFERENCES documents(source),
    ord INTEGER NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    page INTEGER, section TEXT
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE TABLE IF NOT EXISTS latent_terms (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(chunk_id), features BLOB NOT NULL,
    weights BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sentence_vectors (
    key BLOB NOT NULL, source TEXT NOT NULL REFERENCES documents(source), dense BLOB NOT NULL,
    features BLOB, weights BLOB, UNIQUE (key, source)
);
CREATE INDEX IF NOT EXISTS sentence_vectors_source ON sentence_vectors(source);
"""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Snapshot:
    """A read-only, loaded snapshot: what retrieval searches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.manifest = Manifest(**json.loads((path / "manifest.json").read_text("utf-8")))
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"{path}: manifest.json is missing") from exc
        except (ValueError, TypeError) as exc:
            raise IndexCorruptError(
                f"{path}/manifest.json is not a valid manifest ({exc}). "
                "Rebuild the index: python -m assistant index --rebuild"
            ) from exc
        if self.manifest.schema_version != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"{path} has index schema {self.manifest.schema_version}, this version reads "
                f"{SCHEMA_VERSION}. Rebuild it: python -m assistant index --rebuild"
            )
        try:
            self._db = sqlite3.connect(
                f"file:{path / 'index.sqlite'}?mode=ro", uri=True, check_same_thread=False
            )
            self._db_lock = threading.Lock()
            rows = self._db.execute(
                "SELECT d.source, d.sha256, d.title, d.kind, d.organisation, d.year, d.doc_kind, "
                "d.language, COUNT(c.chunk_id), d.indexed_at FROM documents d "
                "LEFT JOIN chunks c ON c.source = d.source GROUP BY d.source ORDER BY d.source"
            ).fetchall()
            self.documents = {r[0]: DocumentRow(*r) for r in rows}
            pairs = self._db.execute("SELECT chunk_id, source FROM chunks ORDER BY chunk_id").fetchall()
            latent_rows = self._db.execute("SELECT COUNT(*) FROM latent_terms").fetchone()[0] \
                if self.manifest.latent_terms else 0
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"{path}/index.sqlite cannot be read ({exc})") from exc
        self.chunk_ids = np.array([p[0] for p in pairs], dtype=np.int64)
        if self.manifest.latent_terms and latent_rows != len(pairs):
            raise IndexCorruptError(
                f"{path}/index.sqlite has latent terms for {latent_rows} of {len(pairs)} chunks. "
                "Rebuild the index: python -m assistant index --rebuild")
        self.position_of = {int(chunk_id): pos for pos, chunk_id in enumerate(self.chunk_ids)}
        self.chunk_sources = np.array([p[1] for p in pairs], dtype=object)
        try:
            self.vectors = faiss.read_index(str(path / "vectors.faiss"))
        except RuntimeError as exc:
            raise IndexCorruptError(f"{path}/vectors.faiss cannot be read ({exc})") from exc
        if self.vectors.ntotal != len(self.chunk_ids) or self.vectors.d != self.manifest.dim:
            raise IndexCorruptError(
                f"{path}: {self.vectors.ntotal} vectors of dimension {self.vectors.d} for "
                f"{len(self.chunk_ids)} chunks (manifest says dimension {self.manifest.dim})"
            )
        self.bm25: bm25s.BM25 | None = None
        # per snapshot, so that a cache never keeps an old snapshot alive
        self._cached_bm25_scores = functools.lru_cache(maxsize=32)(self._compute_bm25_scores)
        if len(self.chunk_ids):
            try:
                self.bm25 = bm25s.BM25.load(str(path / "bm25"))
            except (OSError, ValueError, KeyError) as exc:
                raise IndexCorruptError(f"{path}/bm25 cannot be read ({exc})") from exc

    @property
    def name(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def check_compatible(self, expected: Manifest, for_writing: bool = False) -> None:
        """Refuse an index built with other vectors or chunks; a writer may bring an older BM25
        analysis up to date, since every build rebuilds BM25 from the stored chunk texts."""
        if self.manifest.vector_key() != expected.vector_key():
            raise IndexMismatchError(
                f"the index in {self.path.parent.parent} was built with "
                f"{self.manifest.describe()}, but the settings ask for {expected.describe()}. "
                "Rebuild it with: python -m assistant index --rebuild "
                "(or set the settings back)."
            )
        if self.manifest.latent_terms != expected.latent_terms and for_writing:
            # readers just re-rank or not; a writer would leave some chunks without them
            raise IndexMismatchError(
                f"the index in {self.path.parent.parent} was built with "
                f"{self.manifest.describe()}, but the settings ask for {expected.describe()}. "
                "Rebuild it with: python -m assistant index --rebuild "
                "(or set latent_rerank back).")
        if self.manifest.latent_terms != expected.latent_terms and expected.latent_terms:
            log.warning("the index %s holds latent terms %s, not %s as this version makes: "
                        "answering without latent-term re-ranking; rebuild it with "
                        "python -m assistant index --rebuild", self.name,
                        self.manifest.latent_terms or "(none)", expected.latent_terms)
        if self.manifest.analyzer != expected.analyzer and not for_writing:
            raise IndexMismatchError(
                f"the keyword index in {self.path.parent.parent} uses text analyzer "
                f"{self.manifest.analyzer}, this version uses {expected.analyzer}. Update it with: "
                "python -m assistant index (the vectors are kept; nothing is re-embedded)"
            )

    def _positions_for_sources(self, sources: Collection[str]) -> np.ndarray:
        wanted = set(sources)
        return np.flatnonzero([s in wanted for s in self.chunk_sources])

    def dense_search(self, query: np.ndarray, k: int,
                     sources: Collection[str] | None = None) -> Hits:
        if not len(self) or k <= 0:
            return []
        params = None
        if sources is not None:
            positions = self._positions_for_sources(sources)
            if not len(positions):
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(self.chunk_ids[positions]))
        scores, ids = self.vectors.search(
            np.asarray(query, dtype=np.float32).reshape(1, -1), min(k, len(self)), params=params
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _bm25_scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk, by position (retrieval asks twice per question: the top
        chunks, then the scores of the dense candidates; computed once)."""
        return self._cached_bm25_scores(tuple(query_terms))

    def _compute_bm25_scores(self, query_terms: tuple[str, ...]) -> np.ndarray:
        known = [t for t in query_terms if self.bm25 is not None and t in self.bm25.vocab_dict]
        if not known:
            scores = np.zeros(len(self), dtype=np.float32)
        else:
            scores = self.bm25.get_scores(known)
        scores.setflags(write=False)  # shared by the callers of the cache
        return scores

    def keyword_search(self, query_terms: Sequence[str], k: int,
                       sources: Collection[str] | None = None) -> Hits:
        scores = self._bm25_scores(query_terms)
        if sources is not None:
            mask = np.zeros(len(scores), dtype=bool)
            mask[self._positions_for_sources(sources)] = True
            scores = np.where(mask, scores, 0.0)
        if k <= 0 or not len(self):
            return []
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.chunk_ids[p]), float(scores[p])) for p in top]

    def keyword_scores(self, query_terms: Sequence[str], chunk_ids: Sequence[int]) -> dict[int, float]:
        scores = self._bm25_scores(query_terms)
        return {int(i): float(scores[self.position_of[int(i)]]) for i in chunk_ids}

    def dense_scores(self, query: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        query = np.asarray(query, dtype=np.float32)
        return {int(i): float(self.vectors.reconstruct(int(i)) @ query) for i in chunk_ids}

    def term_idf(self, query_terms: Sequence[str]) -> dict[str, float]:
        """BM25's inverse document frequency per term; a term no chunk has gets the highest."""
        n = max(len(self), 1)
        top = float(np.log(1 + (n + 0.5) / 0.5))
        if self.bm25 is None:
            return {t: top for t in query_terms}
        indptr = self.bm25.scores["indptr"]
        out = {}
        for t in query_terms:
            tid = self.bm25.vocab_dict.get(t)
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None else 0
            out[t] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    def latent_terms(self, chunk_ids: Sequence[int]) -> dict[int, LatentVector]:
        if not chunk_ids or not self.manifest.latent_terms:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        with self._db_lock:
            rows = self._db.execute(
                f"SELECT chunk_id, features, weights FROM latent_terms WHERE chunk_id IN ({marks})",
                [int(i) for i in chunk_ids],
            ).fetchall()
        try:
            return {r[0]: LatentVector.from_blobs(r[1], r[2]) for r in rows}
        except (ValueError, TypeError) as exc:
            raise IndexCorruptError(f"{self.path}/index.sqlite: unreadable latent terms ({exc})") from exc

    def sentence_vectors(self, texts: Sequence[str],
                         with_latent: bool = True) -> dict[str, SentenceVector]:
        if not texts or not self.manifest.sentence_vectors:
            return {}
        by_key = {sentence_key(t): t for t in texts}
        marks = ",".join("?" * len(by_key))
        latent_columns = "features, weights" if with_latent else "NULL, NULL"
        try:
            with self._db_lock:
                rows = self._db.execute(
                    f"SELECT key, dense, {latent_columns} FROM sentence_vectors "
                    f"WHERE key IN ({marks})", list(by_key)).fetchall()
            found = {}
            for key, dense, features, weights in rows:
                vector = np.frombuffer(dense, dtype=VECTOR_DTYPE)
                if len(vector) != self.manifest.dim:
                    raise ValueError(f"a sentence vector of {len(vector)} values, not "
                                     f"{self.manifest.dim}")
                latent = LatentVector.from_blobs(features, weights) if features is not None \
                    else None
                found[by_key[key]] = (vector.astype(np.float32), latent)
            return found
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            raise IndexCorruptError(
                f"{self.path}/index.sqlite: unreadable sentence vectors ({exc})") from exc

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        with self._db_lock:
            rows = self._db.execute(
                f'SELECT chunk_id, source, ord, text, start, "end", page, section FROM chunks '
                f"WHERE chunk_id IN ({marks})",
                [int(i) for i in chunk_ids],
            ).fetchall()
        return {r[0]: Chunk(source=r[1], order=r[2], text=r[3], start=r[4], end=r[5], page=r[6],
                            section=r[7], chunk_id=r[0]) for r in rows}

    def close(self) -> None:
        with self._db_lock:
            self._db.close()


class IndexStore:
    """An index folder: finds, opens and writes its snapshots."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def version(self) -> str | None:
        return self.current_name()

    @property
    def snapshots_dir(self) -> Path:
        return self.root / SNAPSHOTS

    def current_name(self) -> str | None:
        try:
            name = (self.root / CURRENT_FILE).read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexCorruptError(f"{self.root / CURRENT_FILE} cannot be read ({exc})") from exc
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise IndexCorruptError(
                f"{self.root / CURRENT_FILE} does not name a snapshot. "
                "Rebuild the index: python -m assistant index --rebuild")
        return name

    def exists(self) -> bool:
        try:
            name = self.current_name()
        except IndexCorruptError:
            return True  # it exists, and opening it will say what is wrong
        return name is not None

    def open(self) -> Snapshot:
        name = self.current_name()
        if name is None:
            raise IndexMissingError(
                f"no index in {self.root}. Build it with: python -m assistant index"
            )
        path = self.snapshots_dir / name
        if not path.is_dir():
            raise IndexCorruptError(
                f"{self.root / CURRENT_FILE} names {name}, which is missing. "
                "Rebuild the index: python -m assistant index --rebuild")
        return Snapshot(path)

    def writer(self, manifest: Manifest, rebuild: bool = False, wait_s: float = 0) -> "SnapshotWriter":
        return SnapshotWriter(self, manifest, rebuild=rebuild, wait_s=wait_s)

    def _switch(self, name: str) -> None:
        fault_point("before-switch")
        _write_atomic(self.root / CURRENT_FILE, name + "\n")

    def _clean(self, keep: set[str]) -> None:
        """Remove snapshots other than `keep` and leftovers of crashed builds (lock held)."""
        if not self.snapshots_dir.is_dir():
            return
        for entry in self.snapshots_dir.iterdir():
            if entry.name in keep:
                continue
            shutil.rmtree(entry, ignore_errors=True)


def _build_recipe(manifest: Manifest) -> dict:
    """What a snapshot was built by, less its counts and date."""
    return {k: v for k, v in asdict(manifest).items()
            if k not in ("created_at", "documents", "chunks")}


class SnapshotWriter:
    """Builds the next snapshot from the live one. Use as a context manager; `commit()` to switch."""

    def __init__(self, store: IndexStore, manifest: Manifest, rebuild: bool, wait_s: float) -> None:
        self.store = store
        self.manifest = manifest
        self._lock = FileLock(str(store.root / LOCK_FILE))
        self._rebuild = rebuild
        self._wait_s = wait_s
        self.base: Snapshot | None = None
        self.tmp: Path | None = None
        self._live: str | None = None
        self._changed = True  # False while the build would equal the live snapshot

    def __enter__(self) -> "SnapshotWriter":
        self.store.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self._wait_s)
        except Timeout as exc:
            raise IndexLockedError(
                f"another index build is running on {self.store.root} "
                f"(lock {self.store.root / LOCK_FILE}); wait for it to finish and try again"
            ) from exc
        try:
            self._start()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _start(self) -> None:
        live = self.store.current_name()
        self._live = live
        self.store._clean(keep={live} if live else set())
        if live and not self._rebuild:
            self.base = self.store.open()
            self.base.check_compatible(self.manifest, for_writing=True)
            self._changed = _build_recipe(self.base.manifest) != _build_recipe(self.manifest)
        self.store.snapshots_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = self.store.snapshots_dir / f".build-{uuid.uuid4().hex}"
        self.tmp.mkdir()
        if self.base is not None:
            shutil.copyfile(self.base.path / "index.sqlite", self.tmp / "index.sqlite")
            self.vectors = faiss.read_index(str(self.base.path / "vectors.faiss"))
        else:
            self.vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(self.manifest.dim))
        self.db = sqlite3.connect(self.tmp / "index.sqlite")
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT MAX(chunk_id) FROM chunks").fetchone()
        self._next_id = (row[0] + 1) if row[0] is not None else 0

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.tmp is not None and self.tmp.exists():  # not committed: throw the build away
                self.db.close()
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            if self.base is not None:
                self.base.close()
            self._lock.release()

    def known_documents(self) -> dict[str, DocumentRow]:
        return dict(self.base.documents) if self.base is not None else {}

    def remove_document(self, source: str) -> int:
        ids = [r[0] for r in self.db.execute("SELECT chunk_id FROM chunks WHERE source = ?", (source,))]
        self._changed = True
        if ids:
            self.vectors.remove_ids(np.array(ids, dtype=np.int64))
        self.db.execute("DELETE FROM latent_terms WHERE chunk_id IN "
                        "(SELECT chunk_id FROM chunks WHERE source = ?)", (source,))
        self.db.execute("DELETE FROM sentence_vectors WHERE source = ?", (source,))
        self.db.execute("DELETE FROM chunks WHERE source = ?", (source,))
        self.db.execute("DELETE FROM documents WHERE source = ?", (source,))
        return len(ids)

    def put_document(self, document: Document, chunks: list[Chunk], vectors: np.ndarray,
                     latent: Sequence[LatentVector] | None = None,
                     sentences: SentenceVectors | None = None) -> None:
        """Insert or replace a document with its chunks, their vectors and, where the index keeps
        them, their latent-term vectors and its sentences' vectors."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{document.source}: {len(chunks)} chunks but {len(vectors)} vectors")
        if self.manifest.latent_terms and (latent is None or len(latent) != len(chunks)):
            raise ValueError(f"{document.source}: {len(chunks)} chunks but "
                             f"{0 if latent is None else len(latent)} latent-term vectors")
        self.remove_document(document.source)
        self._write_document_row(document)
        ids = np.arange(self._next_id, self._next_id + len(chunks), dtype=np.int64)
        self._next_id += len(chunks)
        self.db.executemany(
            'INSERT INTO chunks (chunk_id, source, ord, text, start, "end", page, section) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(int(i), c.source, c.order, c.text, c.start, c.end, c.page, c.section)
             for i, c in zip(ids, chunks)],
        )
        if self.manifest.latent_terms:
            self.db.executemany(
                "INSERT INTO latent_terms (chunk_id, features, weights) VALUES (?, ?, ?)",
                [(int(i), *vector.to_blobs()) for i, vector in zip(ids, latent)],
            )
        if sentences is not None and self.manifest.sentence_vectors:
            if sentences.dense.shape[1:] != (self.manifest.dim,):
                raise ValueError(f"{document.source}: sentence vectors of shape "
                                 f"{sentences.dense.shape}, not (n, {self.manifest.dim})")
            self.db.executemany(
                "INSERT OR IGNORE INTO sentence_vectors (key, source, dense, features, weights) "
                "VALUES (?, ?, ?, ?, ?)",
                [(sentence_key(text), document.source,
                  np.asarray(vector, dtype=VECTOR_DTYPE).tobytes(),
                  *(latent_vector.to_blobs() if latent_vector is not None else (None, None)))
                 for text, vector, latent_vector in zip(sentences.texts, sentences.dense,
                                                        sentences.latent)],
            )
        if len(chunks):
            self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def update_metadata(self, document: Document) -> None:
        """Refresh title and catalog fields of an unchanged document (no re-embedding)."""
        known = self.base.documents.get(document.source) if self.base is not None else None
        fields = (document.title, document.organisation, document.year, document.doc_kind,
                  document.language)
        if known is not None and fields == (known.title, known.organisation, known.year,
                                            known.doc_kind, known.language):
            return
        self._changed = True
        self.db.execute(
            "UPDATE documents SET title = ?, organisation = ?, year = ?, doc_kind = ?, language = ? "
            "WHERE source = ?",
            (document.title, document.organisation, document.year, document.doc_kind,
             document.language, document.source),
        )

    def _write_document_row(self, document: Document) -> None:
        self.db.execute(
            "INSERT INTO documents (source, sha256, title, kind, organisation, year, doc_kind, "
            "language, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (document.source, document.sha256, document.title, document.kind,
             document.organisation, document.year, document.doc_kind, document.language,
             time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        )

    def commit(self) -> Snapshot:
        """Write BM25, vectors and manifest, move the snapshot into place and switch to it; a
        build that changed nothing is thrown away and the live snapshot stays."""
        assert self.tmp is not None
        if not self._changed:
            self.db.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
            return self.store.open()
        self.db.commit()
        rows = self.db.execute(
            "SELECT c.chunk_id, d.title, c.text FROM chunks c JOIN documents d ON d.source = c.source "
            "ORDER BY c.chunk_id").fetchall()
        documents = self.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        self.db.close()
        fault_point("snapshot-write")
        if rows:
            bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
            bm25.index([indexed_terms(title, text) for _, title, text in rows], show_progress=False)
            bm25.save(str(self.tmp / "bm25"))
        faiss.write_index(self.vectors, str(self.tmp / "vectors.faiss"))
        manifest = Manifest(**{**asdict(self.manifest), "documents": documents, "chunks": len(rows),
                               "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        (self.tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2), "utf-8")
        for file in self.tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        name = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        final = self.store.snapshots_dir / name
        os.rename(self.tmp, final)
        _fsync_dir(self.store.snapshots_dir)
        self.tmp = None
        previous = self._live
        self.store._switch(name)
        # keep the previous snapshot for readers that still have it open
        self.store._clean(keep={name} | ({previous} if previous else set()))
        return Snapshot(final)

