"""Hybrid search: dense top-N and BM25 top-N, fused by standardised scores (or reciprocal rank),
with filters; the best fused candidates are then re-ranked by their latent terms and their
document, and the best passages by how well the reader finds them to answer (`reader_rerank`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .config import Settings
from .embeddings import Embedder
from .latent_terms import LatentVector
from .query_encoding import QueryEncoder, QueryVectors
from .records import Chunk, DenseMargin, Passage
from .sentence_vectors import best_sentence_cosines, kept_by
from .index_engine import IndexReader
from .text import detect_language, terms
from .ocr_repair import question_for_search
from .translation import default_lexicon, swedish_gloss, swedish_terms


# how far down the ranking to look for k passages that do not repeat each other
OVERLAP_LOOKAHEAD = 3


@dataclass(frozen=True)
class SearchFilter:
    """Restrict retrieval to some documents; empty fields do not restrict."""

    sources: frozenset[str] = frozenset()
    organisations: frozenset[str] = frozenset()
    years: frozenset[str] = frozenset()

    def is_empty(self) -> bool:
        return not (self.sources or self.organisations or self.years)

    def allowed_sources(self, snapshot: IndexReader) -> set[str]:
        allowed = set(snapshot.documents)
        if self.sources:
            allowed &= self.sources
        if self.organisations:
            allowed = {s for s in allowed if snapshot.documents[s].organisation in self.organisations}
        if self.years:
            allowed = {s for s in allowed if snapshot.documents[s].year in self.years}
        return allowed


def reciprocal_rank_fusion(
    rankings: list[tuple[list[int], float]], k: int
) -> dict[int, float]:
    """Sum of weight / (k + rank) over the rankings each id appears in (rank from 1)."""
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def zscore_fusion(scorings: list[tuple[dict[int, float], float]]) -> dict[int, float]:
    """Sum of weight × standard score over the scorings; each scoring covers every candidate.

    Standardising over the candidates puts cosines and BM25 scores on one scale, and unlike rank
    fusion it keeps how far the best candidate of each method stands above the rest.
    """
    fused: dict[int, float] = {}
    for scores, weight in scorings:
        values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        mean, spread = float(values.mean()), float(values.std())
        for item, value in scores.items():
            z = (value - mean) / spread if spread > 0 else 0.0
            fused[item] = fused.get(item, 0.0) + weight * z
    return fused


def latent_rerank(
    fused: dict[int, float], latent_of: Callable[[list[int]], dict[int, LatentVector]],
    query: LatentVector, candidates: int, weight: float,
) -> dict[int, float]:
    """Re-score the best `candidates` of `fused` as z(fused) + weight × z(latent-term score).

    Only the head of the list is reordered: the other candidates keep their order below it.
    """
    order = sorted(fused, key=lambda i: (-fused[i], i))
    head, tail = order[:candidates], order[candidates:]
    if len(head) < 2:
        return dict(fused)
    latent = latent_of(head)
    rescored = zscore_fusion([
        ({i: fused[i] for i in head}, 1.0),
        ({i: latent[i].dot(query) if i in latent else 0.0 for i in head}, weight),
    ])
    if tail:
        shift = min(rescored.values()) - 1.0 - fused[tail[0]]
        rescored.update({i: fused[i] + shift for i in tail})
    return rescored


def document_prior(scores: dict[int, float], source_of: dict[int, str],
                   weight: float, temperature: float = 1.0) -> dict[int, float]:
    """Re-score candidates as z(score) + weight × z(their document's score), the document's score
    being temperature × the log of the summed exp(z(score) / temperature) of its candidates.

    A document with several good candidates is about what was asked (the municipality's own
    report); a single chunk of a long statute that shares the question's words is not lifted.
    A temperature below 1 weighs a document's best candidates more against its many middling
    ones, which a long statute has by its length alone."""
    if len(scores) < 2:
        return dict(scores)
    standard = zscore_fusion([(scores, 1.0)])
    scaled: dict[str, list[float]] = {}
    for i, z in standard.items():
        scaled.setdefault(source_of[i], []).append(z / temperature)
    # numpy's log-sum-exp, which cannot overflow at a low temperature
    mass = {source: float(np.logaddexp.reduce(values)) for source, values in scaled.items()}
    document = {i: temperature * mass[source_of[i]] for i in scores}
    return zscore_fusion([(standard, 1.0), (document, weight)])


def reader_rerank(passages: list[Passage], support: list[float],
                  weight: float) -> list[Passage]:
    """Re-order the first len(support) passages by z(score) + weight × z(support), `support`
    being the reader's best sentence probability in each; the rest stay below them. Each
    re-ordered passage's score becomes the one it was ranked by."""
    head, tail = passages[:len(support)], passages[len(support):]
    if len(head) < 2:
        return list(passages)
    rescored = zscore_fusion([({i: p.score for i, p in enumerate(head)}, 1.0),
                              (dict(enumerate(support)), weight)])
    order = sorted(rescored, key=lambda i: (-rescored[i], i))
    shift = min(rescored.values()) - 1.0 - tail[0].score if tail else 0.0
    return ([replace(head[i], score=rescored[i]) for i in order]
            + [replace(p, score=p.score + shift) for p in tail])


@dataclass
class SearchResult:
    passages: list[Passage]
    dense_margin: DenseMargin


def overlap_share(a: Chunk, b: Chunk) -> float:
    """How much of the shorter of two chunks of one document the other also covers (0 to 1)."""
    if a.source != b.source:
        return 0.0
    shared = min(a.end, b.end) - max(a.start, b.start)
    shortest = min(a.end - a.start, b.end - b.start)
    return max(shared, 0) / shortest if shortest > 0 else 0.0


def distinct_head(ranked: list[int], chunks: dict[int, Chunk], k: int,
                  max_overlap: float) -> list[int]:
    """The best k ids, passing over a chunk that mostly repeats a better one of its document
    (neighbouring chunks overlap), so that the passages shown are k different stretches of text."""
    chosen: list[int] = []
    for chunk_id in ranked:
        if len(chosen) == k:
            break
        if all(overlap_share(chunks[chunk_id], chunks[c]) <= max_overlap for c in chosen):
            chosen.append(chunk_id)
    return chosen


def dense_margin(scores: list[float]) -> DenseMargin:
    """The best dense score against ranks 11-50 (or whatever ranks there are)."""
    if not scores:
        return DenseMargin()
    tail = scores[10:] or scores[1:] or scores
    gap = float(scores[0] - np.mean(tail))
    spread = float(np.std(tail))
    return DenseMargin(gap=gap, in_sd=gap / spread if spread > 0 else 0.0)


class Retriever:
    def __init__(self, embedder: Embedder, settings: Settings) -> None:
        self.embedder = embedder
        self.settings = settings
        self.queries = QueryEncoder(embedder, with_latent=settings.latent_rerank)

    def encode_query(self, question: str) -> QueryVectors:
        return self.queries.encode(question)

    def encode_question(self, snapshot: IndexReader, question: str) -> QueryVectors:
        """The question's vectors for `snapshot`. An English question's dense vector is the sum
        of its own and, weighted by `gloss_weight`, that of its word-by-word Swedish gloss
        (`swedish_gloss`, `gloss_translations_per_word` translations a word), normalised."""
        language = detect_language(question)
        query = self.encode_query(question_for_search(question, language))
        weight = self.settings.gloss_weight
        if not (self.settings.translate_english and weight > 0 and language == "en"):
            return query
        gloss = swedish_gloss(question, default_lexicon(), snapshot.term_idf,
                              self.settings.gloss_translations_per_word)
        if not gloss:
            return query
        dense = query.dense + weight * self.encode_query(gloss).dense
        norm = float(np.linalg.norm(dense))
        return replace(query, dense=(dense / norm).astype(query.dense.dtype)) if norm else query

    def search_terms(self, snapshot: IndexReader, question: str) -> list[str]:
        """The question's terms for keyword search; an English question's also include the
        Swedish translations of its words that the index holds."""
        found = terms(question)
        if self.settings.translate_english and detect_language(question) == "en":
            found += swedish_terms(question, default_lexicon(), snapshot.term_idf,
                                   self.settings.translations_per_word)
        return found

    def retrieve(
        self,
        snapshot: IndexReader,
        question: str,
        top_k: int | None = None,
        search_filter: SearchFilter | None = None,
        query: QueryVectors | None = None,
        search_terms: list[str] | None = None,
    ) -> SearchResult:
        s = self.settings
        top_k = top_k or s.top_k
        sources = None
        if search_filter is not None and not search_filter.is_empty():
            sources = search_filter.allowed_sources(snapshot)
            if not sources:
                return SearchResult([], DenseMargin())
        query = query or self.encode_query(question)
        query_vector = query.dense
        query_terms = search_terms if search_terms is not None else \
            self.search_terms(snapshot, question)
        dense = snapshot.dense_search(query_vector, s.dense_candidates, sources)
        lexical = snapshot.keyword_search(query_terms, s.bm25_candidates, sources)
        candidates = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))
        dense_scores = dict(dense)
        dense_scores.update(snapshot.dense_scores(
            query_vector, [i for i in candidates if i not in dense_scores]))
        chunks = snapshot.chunks(candidates)
        if s.sentence_dense and kept_by(snapshot, self.embedder):
            best_sentence = best_sentence_cosines(
                {i: chunks[i].text for i in candidates if i in chunks}, query_vector,
                lambda texts: snapshot.sentence_vectors(texts, with_latent=False))
            dense_scores = {i: max(v, best_sentence.get(i, v)) for i, v in dense_scores.items()}
        bm25_scores = dict(lexical)
        bm25_scores.update(snapshot.keyword_scores(
            query_terms, [i for i in candidates if i not in bm25_scores]))
        if s.fusion == "zscore":
            fused = zscore_fusion([(dense_scores, s.dense_weight), (bm25_scores, s.bm25_weight)])
        else:
            fused = reciprocal_rank_fusion(
                [([i for i, _ in dense], s.dense_weight), ([i for i, _ in lexical], s.bm25_weight)],
                s.rrf_k,
            )
        if query.latent is not None and snapshot.manifest.latent_terms == self.embedder.latent_id:
            fused = latent_rerank(fused, snapshot.latent_terms, query.latent,
                                  s.rerank_candidates, s.latent_weight)
        ranked = sorted(fused, key=lambda i: (-fused[i], i))
        # the document prior re-orders a longer head than is shown, so that a passage of the
        # document the question is about can come up from below the first top_k
        wanted = max(top_k, s.document_prior_candidates if s.document_prior_weight > 0 else 0)
        if s.max_passage_overlap < 1.0:
            best = distinct_head(ranked[:wanted * OVERLAP_LOOKAHEAD], chunks, wanted,
                                 s.max_passage_overlap)
        else:
            best = ranked[:wanted]
        if s.document_prior_weight > 0:
            rescored = document_prior({i: fused[i] for i in best},
                                      {i: chunks[i].source for i in best},
                                      s.document_prior_weight, s.document_prior_temperature)
            best = sorted(best, key=lambda i: (-rescored[i], i))
            fused = {**fused, **rescored}  # a passage's score is the one it was ranked by
        passages = []
        for chunk_id in best[:top_k]:
            chunk = chunks[chunk_id]
            doc = snapshot.documents[chunk.source]
            passages.append(Passage(
                chunk_id=chunk_id, source=chunk.source, title=doc.title, text=chunk.text,
                page=chunk.page, section=chunk.section, score=fused[chunk_id],
                dense_score=dense_scores[chunk_id], bm25_score=bm25_scores[chunk_id],
                organisation=doc.organisation, year=doc.year,
            ))
        return SearchResult(passages, dense_margin([score for _, score in dense]))
