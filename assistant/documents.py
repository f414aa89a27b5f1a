"""Load one file into a `Document`: plain text in any common encoding, Markdown, PDF, DOCX, HTML.

Every failure is a `DocumentError` that names the file and says what is wrong with it, so the
indexer can skip it and carry on.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from .catalog import CatalogEntry
from .records import Document, Segment

SUPPORTED_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf",
                      ".docx": "docx", ".html": "html", ".htm": "html"}


class DocumentError(ValueError):
    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def kind_of(path: Path) -> str | None:
    return SUPPORTED_SUFFIXES.get(path.suffix.lower())


def load_document(
    path: Path,
    source: str,
    entry: CatalogEntry | None = None,
    max_bytes: int | None = None,
) -> Document:
    """Read and extract `path`; `source` is its name relative to the corpus folder."""
    kind = kind_of(path)
    if kind is None:
        raise DocumentError(source, f"unsupported file type '{path.suffix or '(none)'}'")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise DocumentError(
                source,
                f"file is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB "
                "(ASSISTANT_MAX_FILE_MB)",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(source, f"cannot read file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise DocumentError(source, "empty file")

    extract = {"txt": _plain, "md": _markdown, "pdf": _pdf, "docx": _docx, "html": _html}[kind]
    text, segments, found_title = extract(data, source)
    if not text.strip():
        raise DocumentError(source, "no text found in file")
    entry = entry or CatalogEntry()
    return Document(
        source=source,
        text=text,
        title=entry.title or found_title or _title_from_text(text) or _title_from_name(path),
        sha256=hashlib.sha256(data).hexdigest(),
        kind=kind,
        segments=segments or [Segment(0, len(text))],
        organisation=entry.organisation,
        year=entry.year,
        language=entry.language,
        doc_kind=entry.kind,
    )


# --- plain text ----------------------------------------------------------------------------

_BOMS = [(b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")]
_WESTERN = ("cp1252", "iso8859_15", "latin_1")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def decode_text(data: bytes, source: str) -> str:
    """Decode bytes of a text file: BOM, then UTF-8, then charset detection; reject binaries."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(codec), source)
            except UnicodeDecodeError as exc:
                raise DocumentError(source, f"undecodable text: invalid {codec} ({exc.reason})")
    if b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is None:
            raise DocumentError(source, "binary file, not text")
        return _checked(text, source)
    try:
        return _checked(data.decode("utf-8"), source)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise DocumentError(source, "undecodable text: no known character encoding fits")
    # Several code pages often fit equally well; Swedish legacy files are nearly always
    # Windows-1252 or Latin-1, so those win a tie.
    least = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= least + 0.01]
    chosen = next((m for m in tied if m.encoding in _WESTERN), tied[0])
    text = str(chosen)
    # A detector always finds some code page for byte soup; running text has word spaces.
    if sum(c.isspace() for c in text) < 0.05 * len(text):
        raise DocumentError(
            source, f"undecodable text: not UTF-8, and as {chosen.encoding} it is not readable text"
        )
    return _checked(text, source)


def _utf16_without_bom(data: bytes) -> str | None:
    # UTF-16 text of Latin script has a zero in every other byte
    even, odd = data[0::2], data[1::2]
    for codec, zeros in (("utf-16-le", odd), ("utf-16-be", even)):
        if zeros and zeros.count(0) / len(zeros) > 0.9:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                return None
    return None


def _checked(text: str, source: str) -> str:
    if text and len(_CONTROL.findall(text)) / len(text) > 0.01:
        raise DocumentError(source, "binary file, not text (control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _plain(data: bytes, source: str) -> tuple[str, list[Segment], str | None]:
    return decode_text(data, source), [], None


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _markdown(data: bytes, source: str) -> tuple[str, list[Segment], str | None]:
    text = decode_text(data, source)
    headings = list(_MD_HEADING.finditer(text))
    segments = []
    for i, match in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        segments.append(Segment(match.start(), end, section=match.group(2)))
    if headings and headings[0].start() > 0:
        segments.insert(0, Segment(0, headings[0].start()))
    title = next((m.group(2) for m in headings if len(m.group(1)) == 1), None)
    return text, segments, title


# --- PDF ----------------------------------------------------------------------------------

def _pdf(data: bytes, source: str) -> tuple[str, list[Segment], str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # pypdf raises several types for unsupported encryption
                opened = 0
            if not opened:
                raise DocumentError(source, "encrypted PDF (password protected)")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocumentError(source, f"corrupt PDF ({exc})") from exc
    if not any(p.strip() for p in pages):
        raise DocumentError(source, "scanned PDF, no text layer")
    parts, segments, pos = [], [], 0
    for number, page_text in enumerate(pages, start=1):
        page_text = page_text.strip()
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        segments.append(Segment(pos, pos + len(page_text), page=number))
        parts.append(page_text)
        pos += len(page_text)
    title = str(meta_title).strip() if meta_title else None
    return "".join(parts), segments, title or None


# --- DOCX ---------------------------------------------------------------------------------

def _docx(data: bytes, source: str) -> tuple[str, list[Segment], str | None]:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(source, f"corrupt DOCX ({exc})") from exc
    except Exception as exc:  # python-docx surfaces lxml and package errors of many types
        raise DocumentError(source, f"corrupt DOCX ({type(exc).__name__}: {exc})") from exc
    parts: list[str] = []
    segments: list[Segment] = []
    pos = 0
    section: str | None = None
    section_start = 0
    title = (document.core_properties.title or "").strip() or None

    def close_section(end: int) -> None:
        if end > section_start:
            segments.append(Segment(section_start, end, section=section))

    for paragraph in document.paragraphs:
        line = paragraph.text.strip()
        if not line:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        is_heading = style.lower().startswith(("heading", "rubrik", "title"))
        if is_heading:
            close_section(pos)
            section, section_start = line, pos
            if title is None and style.lower().startswith(("title", "heading 1", "rubrik 1")):
                title = line
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(line)
        pos += len(line)
    for table in document.tables:
        for row in table.rows:
            line = "\t".join(cell.text.strip() for cell in row.cells)
            if line.strip():
                parts.append("\n" + line)
                pos += len(line) + 1
    close_section(pos)
    return "".join(parts), segments, title


# --- HTML ---------------------------------------------------------------------------------

def _html(data: bytes, source: str) -> tuple[str, list[Segment], str | None]:
    import trafilatura

    html = decode_text(data, source)
    text = trafilatura.extract(html, include_tables=True, include_comments=False,
                               favor_recall=True)
    if not text or not text.strip():
        raise DocumentError(source, "no main text found in HTML")
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title.strip() if metadata is not None and metadata.title else None
    return text, [], title


# --- titles -------------------------------------------------------------------------------

def _title_from_text(text: str) -> str | None:
    for line in text.splitlines():
        line = " ".join(line.split()).strip("# ")
        if not line:
            continue
        # a title is short, mostly letters, and not a sentence
        if (4 <= len(line) <= 120 and not line.endswith(".")
                and sum(c.isalpha() for c in line) >= 0.6 * len(line)):
            return line[:1] + line[1:].lower() if line.isupper() else line
        return None
    return None


def _title_from_name(path: Path) -> str:
    stem = re.sub(r"[-_]+", " ", path.stem).strip()
    return stem[:1].upper() + stem[1:] if stem else path.name
