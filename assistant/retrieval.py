"""Hybrid search: dense top-N and BM25 top-N fused by weighted reciprocal rank, with filters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Settings
from .embeddings import Embedder
from .records import Passage
from .store import Snapshot
from .text import terms


@dataclass(frozen=True)
class SearchFilter:
    """Restrict retrieval to some documents; empty fields do not restrict."""

    sources: frozenset[str] = frozenset()
    organisations: frozenset[str] = frozenset()
    years: frozenset[str] = frozenset()

    def is_empty(self) -> bool:
        return not (self.sources or self.organisations or self.years)

    def allowed_sources(self, snapshot: Snapshot) -> set[str]:
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


@dataclass
class SearchResult:
    passages: list[Passage]
    # How far the best dense match stands above the typical candidate (top-1 cosine minus the
    # mean of ranks 11-50): a flat profile means nothing in the index is really about the question.
    dense_margin: float


def dense_margin(scores: list[float]) -> float:
    if not scores:
        return 0.0
    tail = scores[10:] or scores[1:] or scores
    return float(scores[0] - np.mean(tail))


class Retriever:
    def __init__(self, embedder: Embedder, settings: Settings) -> None:
        self.embedder = embedder
        self.settings = settings

    def retrieve(
        self,
        snapshot: Snapshot,
        question: str,
        top_k: int | None = None,
        search_filter: SearchFilter | None = None,
        query_vector: np.ndarray | None = None,
    ) -> SearchResult:
        s = self.settings
        top_k = top_k or s.top_k
        positions = None
        if search_filter is not None and not search_filter.is_empty():
            positions = snapshot.positions_for_sources(search_filter.allowed_sources(snapshot))
            if not len(positions):
                return SearchResult([], 0.0)
        if query_vector is None:
            query_vector = self.embedder.embed_query(question)
        dense = snapshot.dense_search(query_vector, s.dense_candidates, positions)
        lexical = snapshot.bm25_search(terms(question), s.bm25_candidates, positions)
        fused = reciprocal_rank_fusion(
            [([i for i, _ in dense], s.dense_weight), ([i for i, _ in lexical], s.bm25_weight)],
            s.rrf_k,
        )
        best = sorted(fused, key=lambda i: (-fused[i], i))[:top_k]
        dense_scores = dict(dense)
        bm25_scores = dict(lexical)
        chunks = snapshot.chunks(best)
        passages = []
        for chunk_id in best:
            chunk = chunks[chunk_id]
            doc = snapshot.documents[chunk.source]
            cosine = dense_scores.get(chunk_id)
            if cosine is None:
                cosine = float(snapshot.vector(chunk_id) @ query_vector)
            passages.append(Passage(
                chunk_id=chunk_id, source=chunk.source, title=doc.title, text=chunk.text,
                page=chunk.page, section=chunk.section, score=fused[chunk_id],
                dense_score=cosine, bm25_score=bm25_scores.get(chunk_id, 0.0),
                organisation=doc.organisation, year=doc.year,
            ))
        return SearchResult(passages, dense_margin([score for _, score in dense]))
