"""Language helpers shared by BM25, the extractive answerer and citation checking.

Two of the bundled documents are OCR output in which å/ä/ö were read as a, d, é, 6 or 1. Terms are
therefore normalised the same way on both sides: OCR look-alikes inside words are mapped back,
words are stemmed with Snowball's Swedish stemmer, and å/ä/ö are folded to a/a/o, so a correctly
spelled question meets a damaged document halfway. Hyphenated compounds count whole and as their
parts.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_SWEDISH

from .ocr_repair import REPAIR_ID, for_search

# Recorded in the index manifest: a change to how terms are normalised needs a BM25 rebuild.
ANALYZER = "sv-snowball-ocrfold-title-hyphenparts-shortstops-4;" + REPAIR_ID

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_DIGIT_IN_WORD = str.maketrans({"1": "i", "6": "ö", "0": "o"})
_OCR_LOOKALIKES = str.maketrans({"é": "ä", "è": "ä", "ê": "ä", "ë": "ä", "&": "ä"})
_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "a", "ü": "u"})

_stemmer = Stemmer.Stemmer("swedish")

EXTRA_STOPWORDS = {
    "vad", "vilka", "vilken", "vilket", "hur", "varför", "när", "var", "finns", "gjorde", "görs",
    "kan", "ska", "skall", "också", "enligt", "dokumenten", "dokumentet", "står", "sägs",
    "what", "which", "who", "whom", "how", "why", "when", "where", "did", "does", "do", "is",
    "are", "was", "were", "the", "of", "in", "on", "for", "to", "and", "or", "a", "an", "about",
    "according", "documents", "document", "say", "says", "said", "tell", "me",
    "många", "mycket", "får", "få", "ger", "går", "gå", "vill", "hos", "per", "sig", "gäller",
    "many", "much", "get", "gets", "give", "gives", "take", "takes", "should", "would", "could",
    "each", "every", "back", "after", "during", "often", "sometimes", "there", "their", "they",
}


def words(text: str) -> list[str]:
    """Word tokens in reading order (lower-cased, hyphenated compounds kept whole)."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _repair(word: str) -> str:
    if any(c.isalpha() for c in word) and any(c.isdigit() for c in word):
        word = word.translate(_DIGIT_IN_WORD)
    return word.translate(_OCR_LOOKALIKES)


@lru_cache(maxsize=200_000)
def normalise_word(word: str) -> str:
    """OCR repair → Swedish stem → fold å/ä/ö. The key under which BM25 and checks compare."""
    word = _repair(word.replace("-", ""))
    return _stemmer.stemWord(word).translate(_FOLD)


def spelled(word: str) -> str:
    """A word as BM25 compares it, but not stemmed: OCR look-alikes mapped back, å/ä/ö folded."""
    return _repair(word.replace("-", "")).translate(_FOLD)


@lru_cache(maxsize=1)
def _stopwords() -> tuple[frozenset[str], frozenset[str]]:
    raw = set(STOPWORDS_SWEDISH) | set(STOPWORDS_EN) | EXTRA_STOPWORDS
    # the stem of a short stopword is the stem of content words too (mot: möte, man: månad,
    # var: våren, att: åtta), so short ones count only as spelled; longer ones also by their
    # stem, which takes their inflections (gäller: gälla, görs: göra)
    return (frozenset(spelled(w) for w in raw),
            frozenset(normalise_word(w) for w in raw if len(w) >= 4))


@lru_cache(maxsize=200_000)
def is_stopword(word: str) -> bool:
    as_spelled, stems = _stopwords()
    return spelled(word) in as_spelled or normalise_word(word) in stems


def terms(text: str) -> list[str]:
    """Normalised content terms: no stopwords, no one-letter tokens."""
    out = []
    for word in words(text):
        if len(word) < 2:
            continue
        # a hyphenated compound (DIVE-projektet, ESF-rådet) also counts as its parts, so the
        # question's "DIVE-projektet" meets the document's "DIVE"
        parts = word.split("-")
        for part in [word] + parts if len(parts) > 1 else [word]:
            key = normalise_word(part)
            if len(key) >= 2 and not is_stopword(part):
                out.append(key)
    return out


def indexed_terms(title: str, text: str) -> list[str]:
    """A chunk's terms for the keyword index: its text, repaired where OCR damaged it, and its
    document's title, since questions often name the document they mean."""
    return terms(f"{title}\n{for_search(text)}")


_SWEDISH_HINTS = {
    "och", "att", "som", "för", "med", "vad", "hur", "vilka", "vilken", "vilket", "är", "har",
    "inte", "det", "den", "de", "en", "ett", "om", "till", "på", "av", "från", "gjorde", "finns",
    "varför", "när", "kommun", "kommunen", "staden", "stad", "nyanlända", "mellan",
}
_ENGLISH_HINTS = {
    "the", "what", "which", "who", "how", "why", "when", "where", "did", "does", "do", "is",
    "are", "was", "were", "of", "and", "to", "in", "for", "with", "about", "city", "from",
}


def detect_language(text: str, default: str = "sv") -> str:
    """'sv' or 'en', by function words; a question with å/ä/ö leans Swedish; `default` when
    the text shows neither ("Pirkkala?")."""
    tokens = words(text)
    sv = sum(t in _SWEDISH_HINTS for t in tokens) + 2 * bool(re.search(r"[åäö]", text.lower()))
    en = sum(t in _ENGLISH_HINTS for t in tokens)
    if not sv and not en:
        return default
    return "en" if en > sv else "sv"


_ABBREVIATIONS = re.compile(
    r"(?:\b(?:t\.ex|bl\.a|f\.d|s\.k|o\.s\.v|m\.m|d\.v\.s|e\.g|i\.e|ca|nr|kap|jfr|dvs|resp|tel|st)\.|\b[A-ZÅÄÖ]\.)$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]?\s+(?=[\"“”(]?[A-ZÅÄÖÉ0-9])")
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)]|[a-z][.)])\s+")
MAX_SENTENCE_CHARS = 360


def _units(text: str) -> list[tuple[int, int]]:
    """Character spans of paragraphs and list items; wrapped lines are joined."""
    spans: list[tuple[int, int]] = []
    start = None
    end = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        line_start = pos + (len(line) - len(line.lstrip()))
        line_end = pos + len(line.rstrip())
        pos += len(line)
        new_unit = not stripped or _BULLET.match(line) or "\t" in stripped
        if new_unit and start is not None:
            spans.append((start, end))
            start = None
        if not stripped:
            continue
        if start is None:
            start = line_start
        end = line_end
        if "\t" in stripped:  # table rows stand alone
            spans.append((start, end))
            start = None
    if start is not None:
        spans.append((start, end))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans of sentences (or sentence-like units: list items, table rows) of `text`."""
    spans: list[tuple[int, int]] = []
    for ustart, uend in _units(text):
        unit = text[ustart:uend]
        cut = 0
        for match in _SENTENCE_END.finditer(unit):
            if _ABBREVIATIONS.search(unit[cut : match.start()]):
                continue
            spans.extend(_bounded(ustart + cut, ustart + match.start(), text))
            cut = match.end()
        spans.extend(_bounded(ustart + cut, uend, text))
    return [(s, e) for s, e in spans if e - s >= 3]


def _bounded(start: int, end: int, text: str) -> list[tuple[int, int]]:
    """Split an over-long unit (OCR text without punctuation) at word boundaries."""
    out = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start, start + MAX_SENTENCE_CHARS)
        if cut <= start:
            cut = start + MAX_SENTENCE_CHARS
        out.append((start, cut))
        start = cut + 1
    out.append((start, end))
    return out


def sentences(text: str) -> list[str]:
    return [" ".join(text[s:e].split()) for s, e in sentence_spans(text)]


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())
