"""Bring an index in line with a corpus folder: add new files, re-embed changed ones, drop deleted
ones, and reuse the vectors of unchanged files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .catalog import CATALOG_FILE, load_catalog
from .chunking import chunk_document, make_splitter
from .config import Settings
from .documents import DocumentError, kind_of, load_document
from .embeddings import Embedder
from .records import Chunk, Document
from .sentence_vectors import (SentenceVectors, as_stored, document_sentences, embed_sentences,
                               sentence_recipe)
from .ocr_repair import REPAIR_ID, for_search
from .index_engine import (KEYWORD_INDEX, SCHEMA_VERSION, IndexEngine, IndexReader, Manifest,
                           engine_for, fault_point)
from .tokens import ENCODING

# Progress callback: (stage, done, total) with stage "files" or "chunks".
Progress = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    embedded_chunks: int = 0
    total_chunks: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "removed": self.removed,
            "unchanged": self.unchanged, "skipped": self.skipped,
            "embedded_chunks": self.embedded_chunks, "total_chunks": self.total_chunks,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged, {len(self.skipped)} skipped; "
                f"{self.embedded_chunks} chunks embedded, {self.total_chunks} in the index "
                f"({self.seconds:.1f} s)")


def expected_manifest(settings: Settings, embedder: Embedder) -> Manifest:
    return Manifest(
        schema_version=SCHEMA_VERSION, embedder_id=embedder.id, dim=embedder.dim,
        chunk_tokens=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap,
        tokenizer=ENCODING, analyzer=KEYWORD_INDEX, created_at="",
        latent_terms=embedder.latent_id if settings.latent_rerank else "",
        text_repair=REPAIR_ID, sentence_vectors=sentence_recipe(embedder),
    )


def corpus_files(corpus_dir: Path) -> list[tuple[str, Path]]:
    """(source, path) for each candidate file; hidden files and the catalog are not documents."""
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    found = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() == CATALOG_FILE:
            continue
        if path.is_file() or path.is_symlink():
            found.append((rel.as_posix(), path))
    return found


def sync_index(
    settings: Settings,
    embedder: Embedder,
    corpus_dir: Path | None = None,
    engine: IndexEngine | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    show_progress: bool = False,
    wait_s: float = 0,
    ray: RayOptions | None = None,
) -> tuple[IndexReport, IndexReader]:
    """Update the index (`engine`, or the settings' one) to match `corpus_dir`; returns the report
    and a reader of the updated index.

    `wait_s` is how long to wait for another build to finish before giving up; with `ray`, the
    chunks are embedded by a Ray cluster's workers."""
    started = time.perf_counter()
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    engine = engine or engine_for(settings)
    catalog = load_catalog(corpus_dir)
    splitter = make_splitter(settings.chunk_tokens, settings.chunk_overlap)
    max_bytes = int(settings.max_file_mb * 1e6)
    report = IndexReport()
    files = corpus_files(corpus_dir)

    with engine.writer(expected_manifest(settings, embedder), rebuild=rebuild,
                      wait_s=wait_s) as writer:
        known = writer.known_documents()
        pending: list[tuple[Document, list[Chunk], bool]] = []
        seen: set[str] = set()
        bar = tqdm(files, desc="files", unit="file", disable=not show_progress, leave=False)
        for done, (source, path) in enumerate(bar, start=1):
            if progress:
                progress("files", done, len(files))
            if kind_of(path) is None:
                report.skipped.append({"path": source, "reason":
                                       f"unsupported file type '{path.suffix or '(none)'}'"})
                continue
            seen.add(source)  # a file that fails to load keeps its earlier indexed version
            if path.is_symlink() and not path.resolve().is_relative_to(corpus_dir.resolve()):
                report.skipped.append({"path": source, "reason": "link to outside the corpus folder"})
                continue
            try:
                document = load_document(path, source, catalog.get(source), max_bytes)
            except DocumentError as exc:
                report.skipped.append({"path": source, "reason": exc.reason})
                continue
            previous = known.get(source)
            if previous is not None and previous.sha256 == document.sha256:
                writer.update_metadata(document)
                report.unchanged += 1
                continue
            chunks = chunk_document(document, splitter)
            pending.append((document, chunks, previous is not None))

        total = sum(len(chunks) for _, chunks, _ in pending)
        _embed_and_store(writer, embedder, pending, total, settings, ray, progress,
                         show_progress, report)
        for source in sorted(set(known) - seen):
            writer.remove_document(source)
            report.removed.append(source)
        snapshot = writer.commit()

    report.total_chunks = len(snapshot)
    report.seconds = time.perf_counter() - started
    return report, snapshot


RAY_GROUP = 20_000  # chunks per Ray dataset: bounds what the driver holds at once


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray cluster
    workers: int | None = None  # None: one per CPU of the cluster


def _embed_and_store(writer, embedder: Embedder, pending, total: int, settings: Settings,
                     ray: RayOptions | None, progress: Progress | None, show_progress: bool,
                     report: IndexReport) -> None:
    bar = tqdm(total=total, desc="chunks", unit="chunk", disable=not show_progress, leave=False)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        bar.update(count)
        if progress:
            progress("chunks", done, total)
        fault_point("embedding")

    with_latent = bool(writer.manifest.latent_terms)
    with_sentences = bool(writer.manifest.sentence_vectors)
    embed = _embed_with_ray if ray is not None else _embed_here
    for document, chunks, replaces, matrix, latent, sentences in embed(
            embedder, pending, with_latent, with_sentences, settings, ray, advance):
        writer.put_document(document, chunks, matrix, latent if with_latent else None,
                            sentences)
        report.embedded_chunks += len(chunks)
        (report.updated if replaces else report.added).append(document.source)
    bar.close()


def _embed_here(embedder: Embedder, pending, with_latent: bool, with_sentences: bool,
                settings: Settings, ray, advance: Callable[[int], None]):
    batch_size = settings.embedding_batch_size
    for document, chunks, replaces in pending:
        vectors, latent = [], []
        for i in range(0, len(chunks), batch_size):
            texts = [for_search(c.text) for c in chunks[i : i + batch_size]]
            if with_latent:
                dense, batch_latent = embedder.embed_with_latent(texts, is_query=False)
                vectors.append(dense)
                latent.extend(batch_latent)
            else:
                vectors.append(embedder.embed_passages(texts))
            advance(len(texts))
        matrix = np.vstack(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        sentences = embed_sentences(embedder, document_sentences(c.text for c in chunks),
                                    batch_size) if with_sentences else None
        yield document, chunks, replaces, matrix, latent, sentences


def _embed_with_ray(embedder: Embedder, pending, with_latent: bool, with_sentences: bool,
                    settings: Settings, ray: RayOptions, advance: Callable[[int], None]):
    """The same documents and vectors as `_embed_here`, embedded by Ray workers (the chunks,
    and the sentences the reader reads); a document is handed on as soon as all are back."""
    from .ray_embedding import embed_with_ray, worker_recipe

    group: list = []
    for item in pending + [None]:
        if item is not None:
            group.append(item)
            if sum(len(chunks) for _, chunks, _ in group) < RAY_GROUP:
                continue
        owner, texts = [], []
        sentence_texts = [document_sentences(c.text for c in chunks) if with_sentences else []
                          for _, chunks, _ in group]
        for index, (_, chunks, _) in enumerate(group):
            owner.extend([(index, n) for n in range(len(chunks))])
            texts.extend(for_search(c.text) for c in chunks)
        for index, found in enumerate(sentence_texts):  # after the chunks: n counts on
            owner.extend([(index, len(group[index][1]) + n) for n in range(len(found))])
            texts.extend(found)
        dense = [np.zeros((len(c) + len(t), embedder.dim), np.float32)
                 for (_, c, _), t in zip(group, sentence_texts)]
        latent: list[list] = [[None] * len(d) for d in dense]
        missing = [len(d) for d in dense]

        def done(index: int):
            document, chunks, replaces = group[index]
            n = len(chunks)
            sentences = SentenceVectors(sentence_texts[index], as_stored(dense[index][n:]),
                                        latent[index][n:]) if with_sentences else None
            return document, chunks, replaces, dense[index][:n], latent[index][:n], sentences

        for index, (document, chunks, replaces) in enumerate(group):
            if not missing[index]:
                yield done(index)
        results = embed_with_ray(texts, settings, worker_recipe(embedder, with_latent),
                                 with_latent, ray.address, ray.workers,
                                 settings.embedding_batch_size) if texts else []
        for key, vector, vector_latent in results:
            index, n = owner[key]
            dense[index][n] = vector
            latent[index][n] = vector_latent
            missing[index] -= 1
            if n < len(group[index][1]):
                advance(1)
            if missing[index] == 0:
                yield done(index)
        group = []
