"""The assembled assistant: settings → embedder → index → retrieval → answer → citations.

The CLI, the Streamlit app and the evaluation all go through this one object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .answering import ExtractiveAnswerer
from .config import Settings
from .embeddings import Embedder, create_embedder
from .indexer import IndexReport, Progress, expected_manifest, sync_index
from .records import Answer, Passage
from .retrieval import Retriever, SearchFilter
from .store import IndexStore, LiveIndex, Snapshot
from .text import terms


class Assistant:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or create_embedder(settings)
        self.store = IndexStore(Path(settings.index_dir))
        self.live = LiveIndex(self.store, expected_manifest(settings, self.embedder))
        self.retriever = Retriever(self.embedder, settings)
        self.answerer = ExtractiveAnswerer(self.embedder, settings)

    def index(self, rebuild: bool = False, corpus_dir: Path | None = None,
              progress: Progress | None = None, show_progress: bool = False) -> IndexReport:
        report, _ = sync_index(self.settings, self.embedder, corpus_dir=corpus_dir,
                               rebuild=rebuild, progress=progress, show_progress=show_progress)
        return report

    def ensure_index(self, progress: Progress | None = None,
                     show_progress: bool = False) -> IndexReport | None:
        """Build the index from the corpus folder if there is none yet."""
        if self.store.exists():
            return None
        return self.index(progress=progress, show_progress=show_progress)

    def snapshot(self) -> Snapshot:
        return self.live.snapshot()

    def ask(self, question: str, top_k: int | None = None,
            search_filter: SearchFilter | None = None) -> Answer:
        """Retrieve passages for `question` and answer from them with checked citations."""
        return self.answer(self.retrieve(question, top_k, search_filter))

    def retrieve(self, question: str, top_k: int | None = None,
                 search_filter: SearchFilter | None = None) -> Retrieval:
        question = clean_question(question)
        snapshot = self.snapshot()
        query_vector = self.embedder.embed_query(question)
        found = self.retriever.retrieve(snapshot, question, top_k, search_filter, query_vector)
        return Retrieval(question, found.passages, query_vector,
                         snapshot.term_idf(terms(question)), found.dense_margin)

    def answer(self, retrieval: Retrieval, top_k: int | None = None) -> Answer:
        """Answer from the first `top_k` retrieved passages (all of them by default)."""
        passages = retrieval.passages[: top_k or len(retrieval.passages)]
        return self.answerer.answer(retrieval.question, passages, retrieval.idf,
                                    retrieval.query_vector, retrieval.dense_margin)


@dataclass
class Retrieval:
    question: str
    passages: list[Passage]
    query_vector: np.ndarray
    idf: dict[str, float]
    dense_margin: float


MAX_QUESTION_CHARS = 2000


def clean_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise ValueError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return question
