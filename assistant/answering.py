"""Answer backends. The default is extractive: it quotes the retrieved sentences that answer the
question, each followed by `[n]`, and abstains when nothing relevant enough was retrieved."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import re
import threading

import numpy as np

from .citations import term_support, verify
from .config import Settings
from .embeddings import Embedder
from .records import Answer, DenseMargin, Passage
from .text import detect_language, sentence_spans, terms

ABSTAIN = {
    "sv": "Dokumenten besvarar inte den här frågan.",
    "en": "The documents do not answer this question.",
}
# How many top passages the answer may quote from, and how many sentences are compared.
QUOTED_PASSAGES = 3
MAX_CANDIDATES = 48
TITLE_TERM_WEIGHT = 0.3


_NUMBER_QUESTION = re.compile(
    r"\b(hur (många|mycket|stor|länge|lång)|how (many|much|large|long|big)|vilken tid|"
    r"what time|när|when|vilket år|what year|hur ofta|how often)\b", re.IGNORECASE)
_PERSON_QUESTION = re.compile(r"\b(vem|vilka personer|who|whom)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(en|ett|två|tre|fyra|fem|sex|sju|åtta|atta|nio|tio|tolv|"
                     r"one|two|three|four|five|ten|twelve)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-ZÅÄÖ][a-zåäöé]+ [A-ZÅÄÖ][a-zåäöé]+")


_WH_NOUN = re.compile(r"^\s*(vilken|vilket|vilka|which|what)\s+(\S+)", re.IGNORECASE)


def focus_term(question: str) -> str | None:
    """The noun a which-question asks about ("Vilken ambassadör …" → ambassadör), normalised."""
    match = _WH_NOUN.match(question)
    if not match:
        return None
    found = terms(match.group(2))
    return found[0] if found else None


def answer_type_bonus(question: str, sentence: str) -> float:
    """A sentence that has the kind of thing the question asks for (a number, a name)."""
    if _NUMBER_QUESTION.search(question):
        return 0.15 if _NUMBER.search(sentence) else 0.0
    if _PERSON_QUESTION.search(question):
        return 0.1 if _NAME.search(sentence) else 0.0
    return 0.0


@dataclass
class _Candidate:
    n: int
    text: str
    lexical: float
    dense: float = 0.0
    score: float = 0.0


def weighted_coverage(question_terms: list[str], text_terms: set[str], idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms that a text contains."""
    unique = list(dict.fromkeys(question_terms))
    total = sum(idf.get(t, 1.0) for t in unique)
    if not total:
        return 0.0
    got = sum(idf.get(t, 1.0) * term_support([t], text_terms) for t in unique)
    return got / total


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, embedder: Embedder, settings: Settings) -> None:
        self.embedder = embedder
        self.settings = settings
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def answer(
        self,
        question: str,
        passages: list[Passage],
        idf: dict[str, float],
        query_vector: np.ndarray,
        dense_margin: DenseMargin,
        language: str | None = None,
    ) -> Answer:
        language = language or detect_language(question)
        question_terms = terms(question)
        coverage = [weighted_coverage(question_terms, set(terms(p.text)), idf) for p in passages]
        if not passages or not self._relevant(max(coverage), dense_margin):
            return Answer(question=question, text=ABSTAIN[language], abstained=True,
                          passages=passages, citations=[], language=language)

        focus = focus_term(question)
        if focus in idf:  # the asked-about noun matters more than the rest of the question
            idf = {**idf, focus: 2 * idf[focus]}
        candidates = self._candidates(passages, question_terms, idf)
        self._score(candidates, query_vector, question)
        chosen = self._choose(candidates)
        text = " ".join(f"{c.text} [{c.n}]" for c in chosen)
        citations = verify(text, passages, self.settings.min_citation_support)
        return Answer(question=question, text=text, abstained=False, passages=passages,
                      citations=citations, language=language)

    def _relevant(self, coverage: float, margin: DenseMargin) -> bool:
        """Answer when the best dense match stands out, or the passages hold most of the
        question's words; never when none of its words occur (a topical but foreign question)."""
        s = self.settings
        if coverage < s.min_any_coverage:
            return False
        return (margin.gap >= s.min_dense_margin or margin.in_sd >= s.min_dense_margin_sd
                or coverage >= s.min_term_coverage)

    def _candidates(self, passages: list[Passage], question_terms: list[str],
                    idf: dict[str, float]) -> list[_Candidate]:
        seen: set[str] = set()
        out: list[_Candidate] = []
        for n, passage in enumerate(passages[:QUOTED_PASSAGES], start=1):
            # words the question shares with the document's title pick the document, not the
            # sentence that answers; they count less when choosing sentences
            title_terms = set(terms(passage.title))
            weights = {t: w * (TITLE_TERM_WEIGHT if t in title_terms else 1.0)
                       for t, w in idf.items()}
            for start, end in sentence_spans(passage.text):
                sentence = " ".join(passage.text[start:end].split())
                key = sentence.lower()
                if key in seen or len(terms(sentence)) < 3:
                    continue  # overlapping chunks repeat sentences; headings say too little
                seen.add(key)
                lexical = weighted_coverage(question_terms, set(terms(sentence)), weights)
                out.append(_Candidate(n=n, text=sentence, lexical=lexical))
        out.sort(key=lambda c: -c.lexical)
        return out[:MAX_CANDIDATES]

    def _vectors_of(self, sentences: list[str]) -> dict[str, np.ndarray]:
        """Sentence vectors, from the cache where it has them (answers run in several threads)."""
        with self._cache_lock:
            found = {s: self._sentence_vectors[s] for s in sentences if s in self._sentence_vectors}
        missing = [s for s in dict.fromkeys(sentences) if s not in found]
        if missing:
            found.update(zip(missing, self.embedder.embed_passages(missing)))
            with self._cache_lock:
                self._sentence_vectors.update((s, found[s]) for s in missing)
                while len(self._sentence_vectors) > 20_000:
                    self._sentence_vectors.popitem(last=False)
        return found

    def _score(self, candidates: list[_Candidate], query_vector: np.ndarray, question: str) -> None:
        vectors = self._vectors_of([c.text for c in candidates])
        for c in candidates:
            c.dense = float(vectors[c.text] @ query_vector)
        dense = np.array([c.dense for c in candidates])
        # the dense scores of one model sit in a narrow band; spread them over [0, 1]
        low, high = float(dense.min()), float(dense.max())
        for c in candidates:
            spread = (c.dense - low) / (high - low) if high > low else 1.0
            c.score = (0.6 * c.lexical + 0.4 * spread - 0.03 * (c.n - 1)
                       + answer_type_bonus(question, c.text))

    def _choose(self, candidates: list[_Candidate]) -> list[_Candidate]:
        ranked = sorted(candidates, key=lambda c: -c.score)
        chosen = [ranked[0]]
        for c in ranked[1:]:
            if len(chosen) >= self.settings.max_answer_sentences:
                break
            if c.score >= 0.85 * ranked[0].score and c.score > 0:
                chosen.append(c)
        return chosen
