"""The small records that flow through the pipeline: load → chunk → retrieve → answer → cite."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    """A stretch of a document's text with its page (PDF) or section (DOCX/HTML/MD heading)."""

    start: int
    end: int
    page: int | None = None
    section: str | None = None


@dataclass
class Document:
    source: str  # path relative to the corpus folder, with forward slashes
    text: str
    title: str
    sha256: str
    kind: str  # txt, md, pdf, docx, html
    segments: list[Segment] = field(default_factory=list)
    organisation: str | None = None
    year: str | None = None
    language: str | None = None
    doc_kind: str | None = None  # what the document is (report, programme, …) per the catalog


@dataclass
class Chunk:
    source: str
    order: int
    text: str
    start: int
    end: int
    page: int | None = None
    section: str | None = None
    chunk_id: int = -1


@dataclass
class Passage:
    """A retrieved chunk with its document's title and the scores that ranked it."""

    chunk_id: int
    source: str
    title: str
    text: str
    page: int | None
    section: str | None
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    organisation: str | None = None
    year: str | None = None


@dataclass
class Citation:
    n: int
    sentence: str
    supported: bool
    support: float
    passage: Passage | None  # None when [n] points at no passage shown
    quote: str = ""
    # where in `quote` the asked-for number, date, name, place or organisation stands
    answer_spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Answer:
    question: str
    text: str
    abstained: bool
    passages: list[Passage]
    citations: list[Citation]
    language: str
    backend: str = "extractive"
    notice: str | None = None
    flagged_sentences: list[str] = field(default_factory=list)
    # the standalone question that was searched, when a follow-up was rewritten
    searched_for: str | None = None
    # an LLM backend's own text before the checks, its token counts, and why its answer was
    # replaced by the extractive one ("failed": the server; "unverified": nothing checked out)
    raw_text: str | None = None
    usage: TokenUsage | None = None
    fallback: str | None = None
    removed_citations: int = 0  # markers in the LLM's text pointing at no passage shown


@dataclass(frozen=True)
class Unanswered:
    """A question that got no answer, and why (an empty or over-long question, a broken index)."""

    question: str
    reason: str
    language: str


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int
    reported: bool  # False: the server reported none, counted here with tiktoken


@dataclass(frozen=True)
class DenseMargin:
    """How far the best dense match stands above the typical candidate (ranks 11-50 of the dense
    search): a flat profile means nothing in the index is really about the question.

    `gap` is in cosine; it shrinks as the index grows, since more texts crowd the ranks below the
    best. `in_sd` is the same gap in standard deviations of ranks 11-50, which holds its scale.
    """

    gap: float = 0.0
    in_sd: float = 0.0
