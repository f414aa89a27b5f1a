"""The corpus catalog: `catalog.toml` in the corpus folder gives each file's title and metadata."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOG_FILE = "catalog.toml"
_FIELDS = {"title", "organisation", "year", "kind", "language"}


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogEntry:
    title: str | None = None
    organisation: str | None = None
    year: str | None = None
    kind: str | None = None
    language: str | None = None


def load_catalog(corpus_dir: Path) -> dict[str, CatalogEntry]:
    """Entries keyed by path relative to the corpus folder; no file means no entries."""
    path = corpus_dir / CATALOG_FILE
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not valid TOML ({exc})") from exc
    entries: dict[str, CatalogEntry] = {}
    for source, fields in raw.items():
        if not isinstance(fields, dict):
            raise CatalogError(f'{path}: ["{source}"] must be a table of fields')
        unknown = set(fields) - _FIELDS
        if unknown:
            raise CatalogError(
                f'{path}: ["{source}"] has unknown field(s) {sorted(unknown)}; '
                f"allowed: {sorted(_FIELDS)}"
            )
        entries[source] = CatalogEntry(**{k: str(v) for k, v in fields.items()})
    return entries
