"""Changes to the corpus from the UI or the API: files in, documents out, each synced into the
index at once and written to the audit log with who made it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .audit import AuditLog
from .catalog import CatalogError
from .indexer import IndexReport, Progress
from .index_engine import IndexError_
from .uploads import UploadError, discard, save_uploads

SYNC_WAIT_S = 60


class CorpusChangeError(ValueError):
    """A change that was refused (`status` 404, 413, 422) or could not be indexed (503)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Added:
    name: str  # as uploaded
    stored: str  # file name in the corpus folder
    sha256: str
    created: bool  # False: the same file was there already
    problem: str | None  # why it could not be indexed (then it was removed again)


def add_files(assistant, files: list[tuple[str, bytes]], who: str, audit: AuditLog,
              progress: Progress | None = None) -> tuple[list[Added], IndexReport]:
    """Save the files under safe names, sync, and take back those that cannot be indexed."""
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files}
    too_large = [n for n, d in files if len(d) > assistant.settings.max_file_mb * 1024 * 1024]
    if too_large:
        for name in too_large:
            audit.record(who, "add", name, digests[name], "refused: too large")
        raise CorpusChangeError(f"{', '.join(too_large)}: larger than "
                                f"{assistant.settings.max_file_mb:g} MB", 413)
    try:
        saved = save_uploads(assistant.settings.corpus_dir, files)
    except UploadError as exc:
        for name, _ in files:
            audit.record(who, "add", name, digests[name], f"refused: {exc}")
        raise CorpusChangeError(str(exc), 422) from None
    try:
        report = assistant.index(progress=progress, wait_s=SYNC_WAIT_S)
    except (IndexError_, CatalogError) as exc:
        for upload in saved:
            discard(assistant.settings.corpus_dir, upload)
            audit.record(who, "add", upload.stored, digests[upload.name], f"failed: {exc}")
        raise CorpusChangeError(f"the index was not updated: {exc}", 503) from None
    problems = {s["path"]: s["reason"] for s in report.skipped}
    added = []
    for upload in saved:
        problem = problems.get(upload.stored)
        digest = digests[upload.name]
        if problem:
            discard(assistant.settings.corpus_dir, upload)
        audit.record(who, "add", upload.stored, digest, f"refused: {problem}" if problem else
                     "added" if upload.created else "unchanged")
        added.append(Added(upload.name, upload.stored, digest, upload.created, problem))
    return added, report


def remove_document(assistant, source: str, who: str, audit: AuditLog) -> IndexReport:
    """Delete an indexed document's file (by its source, as indexed) and sync."""
    known = assistant.snapshot().documents.get(source)
    root = Path(assistant.settings.corpus_dir).resolve()
    path = (root / source).resolve()
    if known is None or not path.is_relative_to(root):
        audit.record(who, "remove", source, None, "refused: no such document")
        raise CorpusChangeError(f"no indexed document {source!r}", 404)
    path.unlink(missing_ok=True)
    try:
        report = assistant.index(wait_s=SYNC_WAIT_S)
    except (IndexError_, CatalogError) as exc:
        audit.record(who, "remove", source, known.sha256, f"failed: {exc}")
        raise CorpusChangeError(f"the file is deleted but the index was not updated: {exc}; "
                                "the next update removes it", 503) from None
    audit.record(who, "remove", source, known.sha256, "removed")
    return report
