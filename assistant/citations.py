"""Citations: parse `[n]` markers and check that each cited passage supports its sentence.

Support is the share of the sentence's content terms that occur in the passage, after the same
OCR-tolerant normalisation and Swedish stemming that BM25 uses; a long term also counts as present
when it is part of a compound in the passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .records import Citation, Passage
from .text import sentence_spans, terms

MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_MARKER_RUN = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")


def term_support(claim_terms: list[str], passage_terms: set[str]) -> float:
    """Share of `claim_terms` present in `passage_terms` (compounds count for terms ≥ 5 chars)."""
    unique = set(claim_terms)
    if not unique:
        return 0.0
    found = 0.0
    for term in unique:
        if term in passage_terms:
            found += 1
        elif len(term) >= 5 and any(term in p for p in passage_terms if len(p) > len(term)):
            found += 0.8
    return found / len(unique)


def split_cited_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """Each sentence of `answer` (markers removed) with the passage numbers it cites."""
    out: list[tuple[str, list[int]]] = []
    pending: list[int] = []
    # markers end a sentence: "… text. [1] Next …" or "… text [1]. Next …"
    pieces = re.split(r"((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+[.!?]?)", answer)
    for piece in pieces:
        if not piece.strip():
            continue
        if _MARKER_RUN.fullmatch(piece.rstrip(".!?")):
            numbers = [int(n) for group in MARKERS.findall(piece) for n in re.split(r"[,;]", group)]
            if out:
                out[-1][1].extend(numbers)
            else:
                pending.extend(numbers)
            if piece.rstrip()[-1:] in ".!?" and out and not out[-1][0].endswith((".", "!", "?")):
                out[-1] = (out[-1][0] + piece.rstrip()[-1], out[-1][1])
            continue
        spans = sentence_spans(piece)
        for start, end in spans:
            sentence = " ".join(piece[start:end].split())
            out.append((sentence, pending))
            pending = []
    return out


def best_quote(claim: str, passage_text: str) -> tuple[str, float]:
    """The sentence of the passage that best supports `claim`, and its support."""
    claim_terms = terms(claim)
    best, score = "", 0.0
    for start, end in sentence_spans(passage_text):
        sentence = " ".join(passage_text[start:end].split())
        value = term_support(claim_terms, set(terms(sentence)))
        if value > score:
            best, score = sentence, value
    return best, score


def verify(answer: str, passages: list[Passage], min_support: float) -> list[Citation]:
    """One `Citation` per (sentence, [n]) in `answer`, checked against passage n (1-based)."""
    citations: list[Citation] = []
    for sentence, numbers in split_cited_sentences(answer):
        claim_terms = terms(sentence)
        for n in dict.fromkeys(numbers):
            if not 1 <= n <= len(passages):
                citations.append(Citation(n=n, sentence=sentence, supported=False, support=0.0,
                                          passage=None))
                continue
            passage = passages[n - 1]
            support = term_support(claim_terms, set(terms(passage.text)))
            quote, _ = best_quote(sentence, passage.text)
            citations.append(Citation(
                n=n, sentence=sentence, supported=bool(claim_terms) and support >= min_support,
                support=round(support, 3), passage=passage, quote=quote,
            ))
    return citations


@dataclass(frozen=True)
class CitationQuality:
    """How well an answer's own citations support it, in the manner of ALCE: a sentence counts
    for recall when its cited passages together support it (a sentence citing nothing does
    not); a citation counts for precision when its passage alone supports its sentence (one
    pointing at no passage does not)."""

    sentences: int
    supported_sentences: int
    citations: int
    supporting_citations: int


def citation_quality(text: str, passages: list[Passage], min_support: float) -> CitationQuality:
    sentences = supported = cited = supporting = 0
    for sentence, numbers in split_cited_sentences(text):
        claim_terms = terms(sentence)
        if not claim_terms:
            continue  # "Ja." states nothing to support
        sentences += 1
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(passages)]
        cited += len(dict.fromkeys(numbers))
        together: set[str] = set()
        for n in valid:
            passage_terms = set(terms(passages[n - 1].text))
            together |= passage_terms
            supporting += term_support(claim_terms, passage_terms) >= min_support
        supported += bool(valid) and term_support(claim_terms, together) >= min_support
    return CitationQuality(sentences, supported, cited, supporting)
