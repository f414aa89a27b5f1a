"""Save uploaded files into the corpus folder under safe names, never outside it."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .documents import SUPPORTED_SUFFIXES

MAX_NAME = 120
_UNSAFE = re.compile(r"[^\w.\-]+")


class UploadError(ValueError):
    pass


def safe_name(name: str) -> str:
    """The file-name part of `name`, reduced to letters, digits, '-', '_' and '.'."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    suffix = Path(base).suffix.lower()
    stem = _UNSAFE.sub("-", base[: len(base) - len(suffix)]).strip(".-_ ")
    cleaned = (stem[: MAX_NAME - len(suffix)] or "document") + suffix
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(f"{name}: unsupported file type (use txt, md, pdf, docx or html)")
    return cleaned


@dataclass(frozen=True)
class SavedUpload:
    name: str  # as uploaded
    stored: str  # file name in the corpus folder
    created: bool  # False when an identical file was already there


def save_uploads(corpus_dir: Path, files: list[tuple[str, bytes]]) -> list[SavedUpload]:
    """Write each (name, data) into `corpus_dir`.

    An existing file is never overwritten: identical content reuses it, other content gets a
    numbered name.
    """
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_dir.resolve()
    saved = []
    for name, data in files:
        clean = safe_name(name)
        target = corpus_dir / clean
        number = 2
        while target.exists():
            if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
                break
            target = corpus_dir / f"{Path(clean).stem}-{number}{Path(clean).suffix}"
            number += 1
        if target.resolve().parent != root:
            raise UploadError(f"{name}: refused, it would be saved outside the corpus folder")
        created = not target.exists()
        if created:
            target.write_bytes(data)
        saved.append(SavedUpload(name, target.name, created))
    return saved


def discard(corpus_dir: Path, upload: SavedUpload) -> None:
    """Remove a newly saved upload that could not be indexed."""
    if not upload.created:
        return
    target = Path(corpus_dir) / safe_name(upload.stored)
    if target.resolve().parent == Path(corpus_dir).resolve() and target.is_file():
        target.unlink()
