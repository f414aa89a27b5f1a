"""Answer backends. The default is extractive: it quotes the sentences the reader finds most likely
to answer the question, each followed by `[n]`, and abstains when the reader is not confident
enough that any sentence does."""

from __future__ import annotations

from collections import OrderedDict

import threading

import numpy as np

from .answer_types import AnswerKind, answer_kind
from .citations import verify
from .config import Settings
from .embeddings import Embedder
from .latent_terms import LatentVector
from .records import Answer, DenseMargin, Passage
from .reader import ReaderModel, SentenceCandidate, add_dense, default_model, sentence_candidates
from .sentence_vectors import (SentenceVector, StoredSentences, embed_sentences,
                               embedded_text)
from .text import detect_language

ABSTAIN = {
    "sv": "Dokumenten besvarar inte den här frågan.",
    "en": "The documents do not answer this question.",
}
# sentence vectors kept for later questions (the same passages come back often)
SENTENCE_CACHE = 20_000
QUESTION_CACHE = 1_000


# kinds whose answers the patterns find reliably (unlike names, which any capitalised words
# look like): a question asking for one is answered only if a sentence holding one is likely,
# and names what the question names, or stands near where that is named (the inhabitants of
# Pirkkala are not those of Ski, named elsewhere in the same passage)
STRICT_KINDS = frozenset({AnswerKind.NUMBER, AnswerKind.DATE})
# kinds asking for a name: a question asking for one is answered only from a sentence standing
# near what the question names (a person who signs for Stockholm is not one named in a passage
# about New York), though the name itself may be a group's ("Frontlinjebyråkraterna")
NAMED_KINDS = frozenset({AnswerKind.PERSON, AnswerKind.PLACE, AnswerKind.ORGANISATION})


def fitting_passages(candidates: list[SentenceCandidate]) -> list[SentenceCandidate]:
    """The sentences whose passage holds every number the question mentions and names the role
    it asks about (`SentenceCandidate.role_named`)."""
    return [c for c in candidates if not c.features["missing_numbers"] and c.role_named]


def confidence(question: str, candidates: list[SentenceCandidate]) -> float:
    """The reader's confidence that the sentences answer `question`: the best probability among
    the sentences whose passage holds every number the question mentions (a question about 2018
    is not answered from a passage about 2014) and names the role the question asks about ("Who
    is the mayor …"); where the question asks for a number or a date, among those holding one
    near every name the question mentions (`SentenceCandidate.names_nearby`); where it asks
    for a person, a place or an organisation, among those standing near those names or in a
    document bearing them (`SentenceCandidate.names_in_reach`); where it asks for a person's
    title, among those writing a title beside that person's name."""
    candidates = fitting_passages(candidates)
    kind = answer_kind(question)
    if kind in STRICT_KINDS:
        candidates = [c for c in candidates if c.features["typed_answer"] and c.names_nearby]
    elif kind in NAMED_KINDS:
        candidates = [c for c in candidates if c.names_in_reach]
    elif kind is AnswerKind.TITLE:
        candidates = [c for c in candidates if c.features["typed_answer"]]
    return max((c.probability for c in candidates), default=0.0)


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, embedder: Embedder, settings: Settings,
                 model: ReaderModel | None = None) -> None:
        self.embedder = embedder
        self.settings = settings
        self.model = model or default_model()
        self._sentence_vectors: OrderedDict[str, tuple] = OrderedDict()
        self._question_latents: OrderedDict[str, LatentVector] = OrderedDict()
        self._cache_lock = threading.Lock()

    def answer(
        self,
        question: str,
        passages: list[Passage],
        idf: dict[str, float],
        query_vector: np.ndarray,
        dense_margin: DenseMargin,
        language: str | None = None,
        query_latent: LatentVector | None = None,
        stored: StoredSentences | None = None,
    ) -> Answer:
        """`stored`: the sentence vectors the index keeps, where it keeps them for this
        embedder (the others are embedded now)."""
        language = language or detect_language(question)
        candidates = self.read(question, passages, idf, query_vector, dense_margin, language,
                               query_latent, stored)
        best = max(candidates, key=lambda c: c.probability, default=None)
        threshold = self.settings.min_reader_confidence
        if threshold is None:
            threshold = self.model.min_confidence
        if best is None or confidence(question, candidates) < threshold:
            return Answer(question=question, text=ABSTAIN[language], abstained=True,
                          passages=passages, citations=[], language=language)
        fitting = fitting_passages(candidates)
        # "Fredrik Jurdell Avdelningschef" answers who the head of department is, however
        # likely a sentence naming some other person looks; and the head of the department
        # asked about answers before the head of some unit
        for names in ("names_the_role", "names_the_role_as_asked"):
            if any(getattr(c, names) for c in fitting):
                fitting = [c for c in fitting if getattr(c, names)]
        best = max(fitting, key=lambda c: c.probability)
        quoted = [(c.text, c.n) for c in self._choose(fitting)]
        if self.settings.quote_following_sentence and best.following \
                and not best.features["typed_answer"] \
                and best.following not in {text for text, _ in quoted}:
            quoted.insert(1, (best.following, best.n))
        text = " ".join(f"{sentence} [{n}]" for sentence, n in quoted)
        citations = verify(text, passages, self.settings.min_citation_support)
        return Answer(question=question, text=text, abstained=False, passages=passages,
                      citations=citations, language=language)

    def read(self, question: str, passages: list[Passage], idf: dict[str, float],
             query_vector: np.ndarray, dense_margin: DenseMargin, language: str,
             query_latent: LatentVector | None = None,
             stored: StoredSentences | None = None) -> list[SentenceCandidate]:
        """The sentences of the first passages, each with its features and its probability of
        holding the answer. `query_latent`: the question's latent terms where retrieval computed
        them already."""
        return self._read(question, passages[: self.settings.reader_passages], idf,
                          query_vector, dense_margin, language, query_latent, stored)

    def _read(self, question: str, shown: list[Passage], idf: dict[str, float],
              query_vector: np.ndarray, dense_margin: DenseMargin, language: str,
              query_latent: LatentVector | None,
              stored: StoredSentences | None) -> list[SentenceCandidate]:
        candidates = sentence_candidates(question, shown, idf, language, dense_margin)
        if candidates:
            vectors = self._vectors_of([c.read_as for c in candidates], stored)
            asked = query_latent or self._question_latent(question)
            add_dense(candidates, [float(vectors[c.read_as][0] @ query_vector) for c in candidates],
                      [vectors[c.read_as][1].dot(asked) if asked else 0.0 for c in candidates],
                      language)
            self.model.score(candidates)
        return candidates

    def passage_support(self, question: str, passages: list[Passage], idf: dict[str, float],
                        query_vector: np.ndarray, dense_margin: DenseMargin, language: str,
                        query_latent: LatentVector | None = None,
                        stored: StoredSentences | None = None) -> list[float]:
        """Each passage's best sentence probability, all of `passages` read."""
        best = [0.0] * len(passages)
        for c in self._read(question, passages, idf, query_vector, dense_margin, language,
                            query_latent, stored):
            best[c.n - 1] = max(best[c.n - 1], c.probability)
        return best

    def _question_latent(self, question: str) -> LatentVector | None:
        if not self.embedder.latent_id:
            return None
        with self._cache_lock:
            found = self._question_latents.get(question)
        if found is None:
            found = self.embedder.embed_with_latent([question], is_query=True)[1][0]
            with self._cache_lock:
                self._question_latents[question] = found
                while len(self._question_latents) > QUESTION_CACHE:
                    self._question_latents.popitem(last=False)
        return found

    def _vectors_of(self, sentences: list[str], stored: StoredSentences | None = None
                    ) -> dict[str, SentenceVector]:
        """Sentence vectors and latent terms: from the cache (answers run in several threads),
        from the index, and embedded now for the rest; one pass of the model gives both."""
        with self._cache_lock:
            found = {s: self._sentence_vectors[s] for s in sentences if s in self._sentence_vectors}
        cached = set(found)
        missing = [s for s in dict.fromkeys(sentences) if s not in found]
        embedded = {s: embedded_text(s) for s in missing}
        if missing and stored is not None:
            kept = stored(list(embedded.values()))
            found.update((s, kept[embedded[s]]) for s in missing if embedded[s] in kept)
            missing = [s for s in missing if s not in found]
        if missing:
            made = embed_sentences(self.embedder, [embedded[s] for s in missing],
                                   batch_size=max(len(missing), 1))
            found.update(zip(missing, zip(made.dense, made.latent)))
        fresh = [s for s in dict.fromkeys(sentences) if s in found and s not in cached]
        if fresh:
            with self._cache_lock:
                self._sentence_vectors.update((s, found[s]) for s in fresh)
                while len(self._sentence_vectors) > SENTENCE_CACHE:
                    self._sentence_vectors.popitem(last=False)
        return found

    def _choose(self, candidates: list[SentenceCandidate]) -> list[SentenceCandidate]:
        ranked = sorted(candidates, key=lambda c: -c.probability)
        chosen = [ranked[0]]
        for c in ranked[1:]:
            if len(chosen) >= self.settings.max_answer_sentences:
                break
            if c.probability >= self.model.also_quote * ranked[0].probability:
                chosen.append(c)
        return chosen
