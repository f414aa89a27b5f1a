"""The Milvus index engine: the same index as the embedded store, in Milvus collections.

`milvus-lite:PATH.db` runs Milvus Lite inside this process on a local data folder;
`http(s)://HOST:PORT` reaches a Milvus server (Milvus Lite's server mode, Standalone or
Distributed) through the same `MilvusClient` calls.

Collections (prefix `assistant_`):

    chunks     one row per chunk: text and position, the dense vector, the BM25 document weights
               (sparse; the project's own Swedish analysis, IDF left out) and the latent terms
    documents  one row per document: catalog fields and the version of its chunks that is live
    terms      document frequency per term id, for the IDF applied at query time
    sentences  one row per sentence of a document's version that the reader reads: its key
               (`sentence_vectors.sentence_key`), dense vector and latent terms
    journal    documents being changed by a sync, so that the next sync can repair a killed one
    meta       the manifest, counters and the writer's lease

Milvus has no transactions, so a document's change is ordered to be atomic for readers: its new
chunks are written under a new version first, then its `documents` row names that version (the
commit point); readers keep only chunks (and sentences) of the version their view names.
Superseded ones are deleted at the end of the sync, and a killed sync's leftovers by the next one.
An index made before the sentences collection keeps none (its manifest says so): the reader then
embeds the sentences it reads.

BM25 is the embedded store's (bm25s, Lucene variant): a chunk's weight for a term is
tf / (tf + k1 (1 - b + b dl / avgdl)), the query's weight idf × count, so the inner product of the
two is the BM25 score. avgdl is fixed when the index is first built (from its first chunks, up to
`AVGDL_SAMPLE`) and kept by later syncs, so that an update does not rewrite every chunk.
Term ids are 32-bit hashes of the analysed terms (a sparse vector's index range).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Collection, Iterable, Sequence

import numpy as np

from .index_engine import (
    BM25_B,
    BM25_K1,
    MILVUS_LITE_PREFIX,
    SCHEMA_VERSION,
    DocumentRow,
    Hits,
    IndexCorruptError,
    IndexError_,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexUnreachableError,
    Manifest,
    fault_point,
)
from .latent_terms import LatentVector
from .records import Chunk, Document
from .sentence_vectors import SentenceVector, SentenceVectors, as_stored, sentence_key
from .text import indexed_terms

PREFIX = "assistant_"
CHUNKS, DOCUMENTS, TERMS, JOURNAL, META, SENTENCES = (
    PREFIX + n for n in ("chunks", "documents", "terms", "journal", "meta", "sentences"))
ALL = (CHUNKS, DOCUMENTS, TERMS, JOURNAL, META, SENTENCES)
VERSIONED = (CHUNKS, SENTENCES)  # rows written under a document's version
CONSISTENCY = "Strong"  # a search sees every write acknowledged before it started
AVGDL_SAMPLE = 20_000  # chunks held back to fix BM25's average length on a first build
LEASE_S = 600  # a writer that stops renewing its lease for this long is taken over
BATCH = 1000  # rows per request
MAX_TEXT_BYTES = 65_535
MAX_SOURCE_BYTES = 4_096
_DUMMY = [0.0, 0.0]  # Milvus wants a vector field in every collection
_CHUNK_FIELDS = ["chunk_id", "source", "version", "ord", "text", "start", "end", "page", "section"]
_SENTENCE_FIELDS = ["key", "source", "version", "dense"]
KEYS_PER_QUERY = 1000  # sentence keys named in one filter expression
_DOC_FIELDS = ["source", "sha256", "title", "kind", "organisation", "year", "doc_kind",
               "language", "chunks", "indexed_at", "version"]


def term_id(term: str) -> int:
    """A term's sparse-vector index: 32 bits of its hash (below 2^32 - 1, Milvus's limit)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(),
                          "little") % 0xFFFFFFFF


def literal(value: str) -> str:
    """A string as a Milvus filter-expression literal."""
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
        raise IndexError_(f"{value!r}: control characters cannot be stored in Milvus")
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def in_list(field: str, values: Iterable[str]) -> str:
    return f"{field} in [{', '.join(literal(v) for v in values)}]"


def bm25_weights(chunk_terms: list[str], avgdl: float) -> tuple[dict[int, float], int]:
    """A chunk's BM25 document weights by term id, and its length in terms."""
    counts = Counter(term_id(t) for t in chunk_terms)
    length = sum(counts.values())
    norm = BM25_K1 * ((1 - BM25_B) + BM25_B * length / avgdl)
    return {tid: tf / (tf + norm) for tid, tf in counts.items()}, length


def idf(df: int, n: int) -> float:
    df = min(df, n)  # counts that a killed sync left ahead of the chunks must not turn it negative
    return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))


def _sparse_dot(a: dict, b: dict) -> float:
    if len(a) > len(b):
        a, b = b, a
    return float(sum(w * b.get(k, 0.0) for k, w in a.items()))


class MilvusEngine:
    """An index in Milvus; see the module docstring."""

    def __init__(self, uri: str, token: str | None = None, dense_index: str = "FLAT") -> None:
        self.uri = uri
        self.dense_index = dense_index
        self._token = token
        self._client = None
        self._client_lock = threading.Lock()
        self._write_lock = threading.Lock()
        if uri.lower().startswith(MILVUS_LITE_PREFIX):
            path = uri[len(MILVUS_LITE_PREFIX):].strip()
            if not path.endswith(".db"):
                raise IndexUnreachableError(
                    f"index_uri {uri!r}: Milvus Lite needs a path ending in .db, "
                    "e.g. milvus-lite:index.db")
            self._target = str(Path(path).expanduser().resolve())
        else:
            self._target = uri

    @property
    def location(self) -> str:
        return self.uri

    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self):
        # gRPC's core prints reconnects (e.g. a server asking for fewer keep-alive pings) as
        # errors; failures that matter reach here as exceptions
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise IndexUnreachableError(
                f"index_uri {self.uri!r} needs pymilvus: pip install -r requirements.txt") from exc
        # pymilvus logs every failed call with its traceback; the errors raised here say it once
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        try:
            client = MilvusClient(uri=self._target, token=self._token or "", timeout=10)
            for name in set(client.list_collections()) & set(ALL):
                client.load_collection(name)  # a collection opened by a new process is released
        except Exception as exc:  # pymilvus raises its own and gRPC's errors
            raise IndexUnreachableError(
                f"cannot reach the Milvus index at {self.uri} ({_reason(exc)})") from exc
        return client

    def call(self, what: str, *args, **kwargs):
        """A MilvusClient call whose failure becomes an index error naming the URI."""
        try:
            return getattr(self.client, what)(*args, **kwargs)
        except IndexError_:
            raise
        except Exception as exc:
            raise IndexUnreachableError(
                f"Milvus index at {self.uri}: {what} failed ({_reason(exc)})") from exc

    def has_collections(self) -> bool:
        return META in self.call("list_collections")

    def meta(self, key: str) -> dict | None:
        rows = self.call("get", META, ids=[key], output_fields=["value"])
        if not rows:
            return None
        try:
            return json.loads(rows[0]["value"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"Milvus index at {self.uri}: meta row {key!r} is "
                                    f"unreadable ({exc}); rebuild with index --rebuild") from exc

    def put_meta(self, **values: dict) -> None:
        self.call("upsert", META, [{"key": k, "value": json.dumps(v), "v": _DUMMY}
                                   for k, v in values.items()])

    def exists(self) -> bool:
        return self.has_collections() and self.meta("manifest") is not None

    def version(self) -> str | None:
        if not self.has_collections():
            return None
        state = self.meta("state")
        return state["generation"] if state else None

    def open(self) -> "MilvusReader":
        if not self.exists():
            raise IndexMissingError(
                f"no index at {self.uri}. Build it with: python -m assistant index "
                f"--index-uri {self.uri}")
        return MilvusReader(self)

    def collections(self) -> list[str]:
        """The index's collections (one made before the sentences collection lacks it)."""
        present = set(self.call("list_collections"))
        return [name for name in ALL if name in present]

    def load(self) -> None:
        for name in self.collections():
            self.call("load_collection", name)

    def writer(self, manifest: Manifest, rebuild: bool = False,
               wait_s: float = 0) -> "MilvusWriter":
        return MilvusWriter(self, manifest, rebuild=rebuild, wait_s=wait_s)

    def scan(self, name: str, fields: list[str], expr: str = ""):
        """Every row of a collection (or those matching `expr`), in batches."""
        try:
            iterator = self.client.query_iterator(name, batch_size=BATCH * 5, filter=expr,
                                                  output_fields=fields)
        except Exception as exc:
            raise IndexUnreachableError(f"Milvus index at {self.uri}: cannot read {name} "
                                        f"({_reason(exc)})") from exc
        try:
            while True:
                batch = iterator.next()
                if not batch:
                    return
                yield from batch
        finally:
            iterator.close()

    def get(self, name: str, ids: Sequence, fields: list[str]) -> list[dict]:
        out = []
        ids = list(ids)
        for i in range(0, len(ids), BATCH):
            out.extend(self.call("get", name, ids=ids[i:i + BATCH], output_fields=fields))
        return out

    # schema

    def create(self, manifest: Manifest) -> None:
        from pymilvus import DataType, MilvusClient

        def collection(name: str, fields: list[tuple], vectors: dict[str, str]) -> None:
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            for field_name, dtype, options in fields:
                schema.add_field(field_name, dtype, **options)
            index = self.client.prepare_index_params()
            for field_name, kind in vectors.items():
                if kind == "INVERTED":  # a scalar index, for lookups by value
                    index.add_index(field_name, index_type=kind)
                else:
                    index.add_index(field_name, index_type=kind, metric_type="IP")
            self.call("create_collection", name, schema=schema, index_params=index,
                      consistency_level=CONSISTENCY)

        varchar = lambda n, **o: (DataType.VARCHAR, {"max_length": n, **o})  # noqa: E731
        dummy = ("v", DataType.FLOAT_VECTOR, {"dim": 2})
        chunk_fields = [
            ("chunk_id", DataType.INT64, {"is_primary": True}),
            ("source", *varchar(MAX_SOURCE_BYTES)), ("version", *varchar(64)),
            ("ord", DataType.INT64, {}), ("text", *varchar(MAX_TEXT_BYTES)),
            ("start", DataType.INT64, {}), ("end", DataType.INT64, {}),
            ("page", DataType.INT64, {"nullable": True}),
            ("section", *varchar(MAX_TEXT_BYTES, nullable=True)),
            ("dense", DataType.FLOAT_VECTOR, {"dim": manifest.dim}),
            ("bm25", DataType.SPARSE_FLOAT_VECTOR, {}),
        ]
        chunk_vectors = {"dense": self.dense_index, "bm25": "SPARSE_INVERTED_INDEX"}
        if manifest.latent_terms:
            chunk_fields.append(("latent", DataType.SPARSE_FLOAT_VECTOR, {}))
            chunk_vectors["latent"] = "SPARSE_INVERTED_INDEX"
        collection(CHUNKS, chunk_fields, chunk_vectors)
        sentence_fields = [
            ("id", *varchar(64 + 1 + 32, is_primary=True)),  # version:key
            ("key", *varchar(32)), ("source", *varchar(MAX_SOURCE_BYTES)),
            ("version", *varchar(64)), ("dense", DataType.FLOAT_VECTOR, {"dim": manifest.dim})]
        sentence_vectors = {"dense": "FLAT", "key": "INVERTED"}
        if manifest.latent_terms:
            sentence_fields.append(("latent", DataType.SPARSE_FLOAT_VECTOR, {}))
            sentence_vectors["latent"] = "SPARSE_INVERTED_INDEX"
        collection(SENTENCES, sentence_fields, sentence_vectors)
        optional = {"nullable": True}
        collection(DOCUMENTS, [
            ("source", *varchar(MAX_SOURCE_BYTES, is_primary=True)),
            ("sha256", *varchar(64)), ("title", *varchar(MAX_TEXT_BYTES)), ("kind", *varchar(16)),
            ("organisation", *varchar(1024, **optional)), ("year", *varchar(64, **optional)),
            ("doc_kind", *varchar(1024, **optional)), ("language", *varchar(64, **optional)),
            ("chunks", DataType.INT64, {}), ("indexed_at", *varchar(64)),
            ("version", *varchar(64)), dummy], {"v": "FLAT"})
        collection(TERMS, [("tid", DataType.INT64, {"is_primary": True}),
                           ("df", DataType.INT64, {}), dummy], {"v": "FLAT"})
        collection(JOURNAL, [("version", *varchar(64, is_primary=True)),
                             ("source", *varchar(MAX_SOURCE_BYTES)), dummy], {"v": "FLAT"})
        collection(META, [("key", *varchar(64, is_primary=True)),
                          ("value", *varchar(MAX_TEXT_BYTES)), dummy], {"v": "FLAT"})

    def drop(self) -> None:
        for name in self.collections():
            self.call("drop_collection", name)


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:300]


def _document_row(row: dict) -> DocumentRow:
    return DocumentRow(**{f: row.get(f) for f in DocumentRow.__dataclass_fields__})


class MilvusReader:
    """A view of a Milvus index: the documents and their live chunk versions as of opening."""

    def __init__(self, engine: MilvusEngine) -> None:
        self.engine = engine
        manifest = engine.meta("manifest")
        state = engine.meta("state") or {}
        try:
            self.manifest = Manifest(**manifest)
        except TypeError as exc:
            raise IndexCorruptError(f"Milvus index at {engine.uri}: the manifest is not valid "
                                    f"({exc}); rebuild with index --rebuild") from exc
        if self.manifest.schema_version != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"the Milvus index at {engine.uri} has index schema "
                f"{self.manifest.schema_version}, this version reads {SCHEMA_VERSION}. Rebuild "
                f"it: python -m assistant index --rebuild --index-uri {engine.uri}")
        self._name = str(state.get("generation", ""))
        self.chunk_count = int(state.get("chunks", 0))
        # per view: the counts belong to the state this view was opened on
        self._cached_df = functools.lru_cache(maxsize=64)(self._fetch_df)
        rows = list(engine.scan(DOCUMENTS, _DOC_FIELDS))
        self.documents = {r["source"]: _document_row(r) for r in sorted(rows, key=lambda r: r["source"])}
        self._live = {r["source"]: r["version"] for r in rows}

    @property
    def name(self) -> str:
        return self._name

    def __len__(self) -> int:
        return self.chunk_count

    def check_compatible(self, expected: Manifest, for_writing: bool = False) -> None:
        check_manifest(self.manifest, expected, self.engine.uri, for_writing)

    def _is_live(self, hit: dict) -> bool:
        entity = hit.get("entity", hit)
        return self._live.get(entity.get("source")) == entity.get("version")

    def _search(self, field: str, data, k: int, sources: Collection[str] | None) -> Hits:
        if k <= 0 or not self.chunk_count:
            return []
        if sources is not None:
            sources = [s for s in sources if s in self._live]
            if not sources:
                return []
        # superseded and unfinished chunk versions are dropped here, so ask for a few more
        limit = min(16_384, 2 * k + 16)
        found = self.engine.call(
            "search", CHUNKS, data=[data], anns_field=field, limit=limit,
            filter=in_list("source", sources) if sources is not None else "",
            output_fields=["source", "version"], search_params={"metric_type": "IP"})
        hits = [(_hit_id(h), float(h["distance"])) for h in found[0] if self._is_live(h)]
        return hits[:k]

    def dense_search(self, query: np.ndarray, k: int,
                     sources: Collection[str] | None = None) -> Hits:
        return self._search("dense", np.asarray(query, dtype=np.float32).tolist(), k, sources)

    def _query_weights(self, query_terms: Sequence[str]) -> dict[int, float]:
        counts = Counter(term_id(t) for t in query_terms)
        df = self._df(counts)
        return {tid: n * idf(df[tid], self.chunk_count) for tid, n in counts.items() if df[tid] > 0}

    def _df(self, tids: Iterable[int]) -> dict[int, int]:
        # retrieval and answering ask for the same question's terms three times: fetched once
        return dict(self._cached_df(tuple(sorted(set(tids)))))

    def _fetch_df(self, tids: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        rows = self.engine.get(TERMS, tids, ["tid", "df"])
        found = {int(r["tid"]): int(r["df"]) for r in rows}
        return tuple((tid, found.get(tid, 0)) for tid in tids)

    def keyword_search(self, query_terms: Sequence[str], k: int,
                       sources: Collection[str] | None = None) -> Hits:
        weights = self._query_weights(query_terms)
        if not weights:
            return []
        return [(i, s) for i, s in self._search("bm25", weights, k, sources) if s > 0]

    def keyword_scores(self, query_terms: Sequence[str], chunk_ids: Sequence[int]) -> dict[int, float]:
        if not chunk_ids:
            return {}
        weights = self._query_weights(query_terms)
        rows = self.engine.get(CHUNKS, chunk_ids, ["chunk_id", "bm25"])
        found = {int(r["chunk_id"]): _sparse_dot(weights, r["bm25"]) for r in rows}
        return {int(i): found.get(int(i), 0.0) for i in chunk_ids}

    def dense_scores(self, query: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        if not chunk_ids:
            return {}
        query = np.asarray(query, dtype=np.float32)
        rows = self.engine.get(CHUNKS, chunk_ids, ["chunk_id", "dense"])
        return {int(r["chunk_id"]): float(np.asarray(r["dense"], dtype=np.float32) @ query)
                for r in rows}

    def term_idf(self, query_terms: Sequence[str]) -> dict[str, float]:
        n = max(self.chunk_count, 1)
        df = self._df({term_id(t) for t in query_terms})
        return {t: idf(df[term_id(t)], n) for t in query_terms}

    def sentence_vectors(self, texts: Sequence[str],
                         with_latent: bool = True) -> dict[str, SentenceVector]:
        if not texts or not self.manifest.sentence_vectors:
            return {}
        by_key = {sentence_key(t).hex(): t for t in texts}
        keys = list(by_key)
        fields = _SENTENCE_FIELDS + (["latent"] if self.manifest.latent_terms and with_latent
                                     else [])
        found: dict[str, SentenceVector] = {}
        for i in range(0, len(keys), KEYS_PER_QUERY):
            rows = self.engine.call("query", SENTENCES, output_fields=fields,
                                    filter=in_list("key", keys[i:i + KEYS_PER_QUERY]))
            for row in rows:
                if not self._is_live(row):
                    continue
                vector = np.asarray(row["dense"], dtype=np.float32)
                if len(vector) != self.manifest.dim:
                    raise IndexCorruptError(
                        f"Milvus index at {self.engine.uri}: a sentence vector of {len(vector)} "
                        f"values, not {self.manifest.dim}; rebuild with index --rebuild")
                found[by_key[row["key"]]] = (
                    vector, _latent_vector(row["latent"]) if "latent" in row else None)
        return found

    def latent_terms(self, chunk_ids: Sequence[int]) -> dict[int, LatentVector]:
        if not chunk_ids or not self.manifest.latent_terms:
            return {}
        return {int(row["chunk_id"]): _latent_vector(row["latent"])
                for row in self.engine.get(CHUNKS, chunk_ids, ["chunk_id", "latent"])}

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        if not chunk_ids:
            return {}
        return {int(r["chunk_id"]): _chunk(r)
                for r in self.engine.get(CHUNKS, chunk_ids, _CHUNK_FIELDS)}

    def close(self) -> None:
        pass


def _latent_vector(sparse: dict) -> LatentVector:
    items = sorted((int(f), float(w)) for f, w in sparse.items() if w > 0)
    return LatentVector(np.array([f for f, _ in items], dtype=np.uint16),
                        np.array([w for _, w in items], dtype=np.float16))


def _latent_row(vector: LatentVector | None) -> dict:
    if vector is None:
        return {0: 0.0}  # Milvus stores no empty sparse vector
    return {int(f): float(w) for f, w in zip(vector.features, vector.weights)} or {0: 0.0}


def _hit_id(hit: dict) -> int:
    return int(hit["id"] if "id" in hit else hit["chunk_id"])


def _terms_of(sparse: dict) -> list[int]:
    return [int(t) for t, w in sparse.items() if w > 0]  # an empty vector is stored as {0: 0}


def _chunk(row: dict) -> Chunk:
    return Chunk(source=row["source"], order=row["ord"], text=row["text"], start=row["start"],
                 end=row["end"], page=row.get("page"), section=row.get("section"),
                 chunk_id=int(row["chunk_id"]))


def check_manifest(stored: Manifest, expected: Manifest, uri: str, for_writing: bool) -> None:
    rebuild = f"python -m assistant index --rebuild --index-uri {uri}"
    if stored.vector_key() != expected.vector_key() or (
            for_writing and stored.latent_terms != expected.latent_terms):
        raise IndexMismatchError(
            f"the Milvus index at {uri} was built with {stored.describe()}, but the settings "
            f"ask for {expected.describe()}. Rebuild it with: {rebuild}")
    if stored.analyzer != expected.analyzer:
        raise IndexMismatchError(
            f"the keyword weights in the Milvus index at {uri} come from text analyzer "
            f"{stored.analyzer}, this version uses {expected.analyzer}. Rebuild it with: {rebuild}")


class MilvusWriter:
    """Changes a Milvus index document by document; see the module docstring for the order."""

    def __init__(self, engine: MilvusEngine, manifest: Manifest, rebuild: bool,
                 wait_s: float) -> None:
        self.engine = engine
        self.manifest = manifest
        self._rebuild = rebuild
        self._wait_s = wait_s
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._known: dict[str, DocumentRow] = {}
        self._versions: dict[str, str] = {}
        self._df_delta: Counter[int] = Counter()
        self._superseded: list[tuple[str, str]] = []  # (source, version) to delete at commit
        self._held: list[tuple[Document, list[Chunk], np.ndarray, list | None]] = []
        self._held_chunks = 0
        self._lease_renewed = 0.0

    # lifecycle

    def __enter__(self) -> "MilvusWriter":
        lock = self.engine._write_lock
        if not (lock.acquire(timeout=self._wait_s) if self._wait_s > 0 else lock.acquire(False)):
            raise IndexLockedError(f"another index build is running on {self.engine.uri}")
        try:
            self._start()
        except BaseException:
            self.engine._write_lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.engine.has_collections():
                self._release_lease()
        finally:
            self.engine._write_lock.release()

    def _start(self) -> None:
        engine = self.engine
        if self._rebuild:
            if engine.has_collections():
                self._take_lease()
            engine.drop()
        if not engine.has_collections():
            engine.create(self.manifest)
            engine.put_meta(manifest=asdict(self.manifest),
                            state=self._new_state(chunks=0, next_chunk_id=0))
        engine.load()
        stored = engine.meta("manifest")
        if stored is None:
            raise IndexCorruptError(f"Milvus index at {engine.uri} has no manifest; rebuild "
                                    "it with index --rebuild")
        check_manifest(Manifest(**stored), self.manifest, engine.uri, for_writing=True)
        if SENTENCES not in engine.collections():
            # made before the sentences collection: it goes on without, as its manifest says
            self.manifest = replace(self.manifest, sentence_vectors="")
        self._take_lease()
        self.state = engine.meta("state") or self._new_state(chunks=0, next_chunk_id=0)
        rows = list(engine.scan(DOCUMENTS, _DOC_FIELDS))
        self._known = {r["source"]: _document_row(r) for r in rows}
        self._versions = {r["source"]: r["version"] for r in rows}
        self._repair()

    def _new_state(self, chunks: int, next_chunk_id: int, avgdl: float | None = None) -> dict:
        return {"generation": uuid.uuid4().hex, "chunks": chunks, "next_chunk_id": next_chunk_id,
                "avgdl": avgdl, "dirty": False}

    # one writer at a time, across processes and machines: a lease in the meta collection

    def _take_lease(self) -> None:
        deadline = time.monotonic() + self._wait_s
        while True:
            lease = self.engine.meta("lease")
            if not lease or lease.get("owner") == self._owner or _lease_expired(lease):
                break
            if time.monotonic() >= deadline:
                raise IndexLockedError(
                    f"another index build is running on {self.engine.uri} (by {lease['owner']}, "
                    f"lease until {time.strftime('%H:%M:%S', time.localtime(lease['until']))}); "
                    "wait for it to finish and try again")
            time.sleep(0.5)
        self._renew_lease(force=True)

    def _renew_lease(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._lease_renewed > LEASE_S / 4:
            self.engine.put_meta(lease={"owner": self._owner, "until": now + LEASE_S})
            self._lease_renewed = now

    def _release_lease(self) -> None:
        lease = self.engine.meta("lease")
        if lease and lease.get("owner") == self._owner:
            self.engine.call("delete", META, ids=["lease"])

    # repairs after a killed sync

    def _repair(self) -> None:
        journal = list(self.engine.scan(JOURNAL, ["version", "source"]))
        for entry in journal:
            source = entry["source"]
            live = self._versions.get(source)
            expr = f"source == {literal(source)}"
            if live is not None:
                expr += f" and version != {literal(live)}"
            self._delete_versioned(expr)
        if journal:
            self.engine.call("delete", JOURNAL, ids=[e["version"] for e in journal])
        if journal or self.state.get("dirty"):
            self._recount()

    def _recount(self) -> None:
        """Chunk count and document frequencies from the live chunks themselves."""
        df: Counter[int] = Counter()
        chunks = 0
        for row in self.engine.scan(CHUNKS, ["source", "version", "bm25"]):
            if self._versions.get(row["source"]) != row["version"]:
                continue
            chunks += 1
            df.update(_terms_of(row["bm25"]))
        stale = [r["tid"] for r in self.engine.scan(TERMS, ["tid"]) if r["tid"] not in df]
        for i in range(0, len(stale), BATCH):
            self.engine.call("delete", TERMS, ids=stale[i:i + BATCH])
        self._upsert_df({int(t): n for t, n in df.items()})
        self.state = {**self.state, "chunks": chunks, "dirty": False}
        self.engine.put_meta(state=self.state)

    def _delete_versioned(self, expr: str) -> None:
        present = self.engine.collections()
        for name in VERSIONED:
            if name in present:
                self.engine.call("delete", name, filter=expr)

    def _upsert_df(self, df: dict[int, int]) -> None:
        rows = [{"tid": t, "df": n, "v": _DUMMY} for t, n in df.items()]
        for i in range(0, len(rows), BATCH):
            self.engine.call("upsert", TERMS, rows[i:i + BATCH])

    # the writer interface

    def known_documents(self) -> dict[str, DocumentRow]:
        return dict(self._known)

    def _mark_dirty(self, **changes) -> None:
        self.state = {**self.state, **changes, "dirty": True,
                      "generation": uuid.uuid4().hex}
        self.engine.put_meta(state=self.state)

    def _journal(self, source: str) -> None:
        self.engine.call("insert", JOURNAL, [{"version": uuid.uuid4().hex, "source": source,
                                              "v": _DUMMY}])

    def _forget_chunks(self, source: str) -> int:
        """Count the live chunks of `source` out of the term statistics; deleted at commit."""
        version = self._versions.get(source)
        if version is None:
            return 0
        rows = list(self.engine.scan(
            CHUNKS, ["bm25"], f"source == {literal(source)} and version == {literal(version)}"))
        for row in rows:
            self._df_delta.subtract(_terms_of(row["bm25"]))
        self._superseded.append((source, version))
        return len(rows)

    def remove_document(self, source: str) -> int:
        self._flush_held()
        if source not in self._versions:
            return 0
        self._journal(source)
        removed = self._forget_chunks(source)
        self._mark_dirty(chunks=self.state["chunks"] - removed)
        # by filter: pymilvus would put the id into an expression without escaping it
        self.engine.call("delete", DOCUMENTS, filter=f"source == {literal(source)}")
        fault_point("milvus-document-removed")
        del self._versions[source]
        self._known.pop(source, None)
        return removed

    def put_document(self, document: Document, chunks: list[Chunk], vectors: np.ndarray,
                     latent: Sequence[LatentVector] | None = None,
                     sentences: SentenceVectors | None = None) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{document.source}: {len(chunks)} chunks but {len(vectors)} vectors")
        if self.manifest.latent_terms and (latent is None or len(latent) != len(chunks)):
            raise ValueError(f"{document.source}: {len(chunks)} chunks but "
                             f"{0 if latent is None else len(latent)} latent-term vectors")
        if len(document.source.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise IndexError_(f"{document.source[:80]}…: the path is longer than Milvus stores "
                              f"({MAX_SOURCE_BYTES} bytes)")
        literal(document.source)  # refuses what a filter could not name
        rows = self._sentence_rows(document, sentences) if sentences is not None else []
        self._held.append((document, chunks, vectors, list(latent) if latent is not None else None,
                           rows))
        self._held_chunks += len(chunks)
        if self.state.get("avgdl") is not None or self._held_chunks >= AVGDL_SAMPLE:
            self._flush_held()

    def _flush_held(self) -> None:
        """Write the documents held back to fix avgdl from the first chunks of a new index."""
        if not self._held:
            return
        if self.state.get("avgdl") is None:
            lengths = [len(indexed_terms(d.title, c.text)) for d, cs, *_ in self._held
                       for c in cs]
            self.state = {**self.state, "avgdl": max(float(np.mean(lengths)), 1.0)
                          if lengths else 1.0}
        held, self._held, self._held_chunks = self._held, [], 0
        for document, chunks, vectors, latent, sentences in held:
            self._write_document(document, chunks, vectors, latent, sentences)

    def _sentence_rows(self, document: Document, sentences: SentenceVectors) -> list[dict]:
        """A document's sentence rows, less the version they are written under."""
        if not self.manifest.sentence_vectors:
            return []
        if sentences.dense.shape[1:] != (self.manifest.dim,):
            raise ValueError(f"{document.source}: sentence vectors of shape "
                             f"{sentences.dense.shape}, not (n, {self.manifest.dim})")
        rows = {}
        for text, vector, latent in zip(sentences.texts, sentences.dense, sentences.latent):
            # rounded as the embedded store keeps them, so both engines read the same vectors
            row = {"key": sentence_key(text).hex(), "dense": as_stored(vector).tolist()}
            if self.manifest.latent_terms:
                row["latent"] = _latent_row(latent)
            rows[row["key"]] = row
        return list(rows.values())

    def _write_document(self, document: Document, chunks: list[Chunk], vectors: np.ndarray,
                        latent: list[LatentVector] | None, sentences: list[dict]) -> None:
        self._renew_lease()
        version = uuid.uuid4().hex
        first = int(self.state["next_chunk_id"])
        replaced = self._forget_chunks(document.source)
        # ids are reserved before they are used, so a killed sync never reuses one
        self._mark_dirty(next_chunk_id=first + len(chunks),
                         chunks=self.state["chunks"] - replaced + len(chunks))
        self._journal(document.source)
        rows = []
        for offset, (chunk, vector) in enumerate(zip(chunks, vectors)):
            if len(chunk.text.encode("utf-8")) > MAX_TEXT_BYTES:
                raise IndexError_(f"{document.source}: chunk {chunk.order} is longer than Milvus "
                                  f"stores ({MAX_TEXT_BYTES} bytes)")
            weights, _ = bm25_weights(indexed_terms(document.title, chunk.text), self.state["avgdl"])
            self._df_delta.update(weights.keys())
            row = {"chunk_id": first + offset, "source": document.source, "version": version,
                   "ord": chunk.order, "text": chunk.text, "start": chunk.start, "end": chunk.end,
                   "page": chunk.page, "section": chunk.section,
                   "dense": np.asarray(vector, dtype=np.float32).tolist(),
                   "bm25": weights or {0: 0.0}}
            if self.manifest.latent_terms:
                row["latent"] = _latent_row(latent[offset])
            rows.append(row)
        for i in range(0, len(rows), BATCH):
            self.engine.call("insert", CHUNKS, rows[i:i + BATCH])
            fault_point("milvus-chunks-written")
        sentence_rows = [{**row, "id": f"{version}:{row['key']}", "source": document.source,
                          "version": version} for row in sentences]
        for i in range(0, len(sentence_rows), BATCH):
            self.engine.call("insert", SENTENCES, sentence_rows[i:i + BATCH])
        self._write_document_row(document, version, len(chunks))  # the commit point
        fault_point("milvus-document-written")
        self._versions[document.source] = version

    def _write_document_row(self, document: Document, version: str, chunks: int) -> None:
        row = {"source": document.source, "sha256": document.sha256, "title": document.title,
               "kind": document.kind, "organisation": document.organisation,
               "year": document.year, "doc_kind": document.doc_kind,
               "language": document.language, "chunks": chunks,
               "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "version": version,
               "v": _DUMMY}
        self.engine.call("upsert", DOCUMENTS, [row])
        self._known[document.source] = _document_row(row)

    def update_metadata(self, document: Document) -> None:
        known = self._known.get(document.source)
        if known is None:
            return
        fields = (document.title, document.organisation, document.year, document.doc_kind,
                  document.language)
        if fields == (known.title, known.organisation, known.year, known.doc_kind, known.language):
            return
        if document.title != known.title:
            # the title is part of every chunk's BM25 text (as in the embedded store): re-weight
            # the stored chunks, keeping their vectors, as a new version of the document
            self._flush_held()
            chunks, vectors, latent = self._stored_chunks(document.source)
            self._write_document(document, chunks, vectors, latent,
                                 self._stored_sentences(document.source))
            return
        self._write_document_row(document, self._versions[document.source], known.chunks)
        self._mark_dirty()

    def _stored_chunks(self, source: str) -> tuple[list[Chunk], np.ndarray, list | None]:
        fields = _CHUNK_FIELDS + ["dense"] + (["latent"] if self.manifest.latent_terms else [])
        rows = sorted(self.engine.scan(CHUNKS, fields, f"source == {literal(source)} and "
                                       f"version == {literal(self._versions[source])}"),
                      key=lambda r: r["ord"])
        vectors = np.array([r["dense"] for r in rows], dtype=np.float32).reshape(
            len(rows), self.manifest.dim)
        latent = [_latent_vector(r["latent"]) for r in rows] if self.manifest.latent_terms \
            else None
        return [_chunk(r) for r in rows], vectors, latent

    def _stored_sentences(self, source: str) -> list[dict]:
        if not self.manifest.sentence_vectors:
            return []
        fields = ["key", "dense"] + (["latent"] if self.manifest.latent_terms else [])
        return list(self.engine.scan(SENTENCES, fields, f"source == {literal(source)} and "
                                     f"version == {literal(self._versions[source])}"))

    def commit(self) -> MilvusReader:
        self._flush_held()
        engine = self.engine
        for source, version in self._superseded:
            self._delete_versioned(
                f"source == {literal(source)} and version == {literal(version)}")
        fault_point("milvus-before-terms")
        touched = [t for t, n in self._df_delta.items() if n]
        current = {}
        for i in range(0, len(touched), BATCH):
            for row in engine.call("get", TERMS, ids=touched[i:i + BATCH], output_fields=["df"]):
                current[int(row["tid"])] = int(row["df"])
        updated = {t: current.get(t, 0) + self._df_delta[t] for t in touched}
        gone = [t for t, n in updated.items() if n <= 0]
        for i in range(0, len(gone), BATCH):
            engine.call("delete", TERMS, ids=gone[i:i + BATCH])
        self._upsert_df({t: n for t, n in updated.items() if n > 0})
        journal = [e["version"] for e in engine.scan(JOURNAL, ["version"])]
        for i in range(0, len(journal), BATCH):
            engine.call("delete", JOURNAL, ids=journal[i:i + BATCH])
        manifest = Manifest(**{**asdict(self.manifest), "documents": len(self._versions),
                               "chunks": self.state["chunks"],
                               "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        self.state = {**self.state, "dirty": False, "generation": uuid.uuid4().hex}
        engine.put_meta(manifest=asdict(manifest), state=self.state)
        for name in engine.collections():
            engine.call("flush", name)  # searches in sealed segments are the fast ones
        self._df_delta.clear()
        self._superseded.clear()
        return MilvusReader(engine)


def _lease_expired(lease: dict) -> bool:
    if time.time() > float(lease.get("until", 0)):
        return True
    host, _, rest = str(lease.get("owner", "")).partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)  # a writer on this machine that died leaves its lease behind
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False
