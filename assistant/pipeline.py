"""The assembled assistant: settings → embedder → index → retrieval → answer → citations.

The CLI, the Streamlit app and the evaluation all go through this one object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .answer_types import answer_spans
from .answering import ExtractiveAnswerer
from .config import Settings
from .conversation import Turn, rewrite_followup
from .embeddings import Embedder, create_embedder
from .llm import LLMAnswerer
from .indexer import IndexReport, Progress, RayOptions, expected_manifest, sync_index
from .latent_terms import LatentVector
from .records import Answer, DenseMargin, Passage
from .retrieval import Retriever, SearchFilter, reader_rerank
from .sentence_vectors import StoredSentences, kept_by
from .index_engine import IndexReader, LiveIndex, engine_for
from .text import detect_language


class Assistant:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or create_embedder(settings)
        self.store = engine_for(settings)
        self.live = LiveIndex(self.store, expected_manifest(settings, self.embedder))
        self.retriever = Retriever(self.embedder, settings)
        self.answerer = ExtractiveAnswerer(self.embedder, settings)
        self._llm_answerers: dict[str, LLMAnswerer] = {}

    def index(self, rebuild: bool = False, corpus_dir: Path | None = None,
              progress: Progress | None = None, show_progress: bool = False,
              wait_s: float = 0, ray: RayOptions | None = None) -> IndexReport:
        report, _ = sync_index(self.settings, self.embedder, corpus_dir=corpus_dir,
                               engine=self.store, rebuild=rebuild, progress=progress,
                               show_progress=show_progress, wait_s=wait_s, ray=ray)
        return report

    def ensure_index(self, progress: Progress | None = None,
                     show_progress: bool = False) -> IndexReport | None:
        """Build the index from the corpus folder if there is none yet. A second process that
        starts meanwhile waits for the first build, then finds everything in place."""
        if self.store.exists():
            return None
        return self.index(progress=progress, show_progress=show_progress, wait_s=BUILD_WAIT_S)

    def snapshot(self) -> IndexReader:
        return self.live.snapshot()

    def ask(self, question: str, top_k: int | None = None,
            search_filter: SearchFilter | None = None, backend: str | None = None,
            on_token: Callable[[str], None] | None = None,
            history: list[Turn] | None = None) -> Answer:
        """Retrieve passages for `question` and answer from them with checked citations.

        `backend` overrides the configured answer backend; `on_token` receives an LLM's text as
        it streams in (the returned answer is the checked one). With `history`, a follow-up
        question is first rewritten into the standalone question that is searched and answered;
        the answer keeps the question as asked and records `searched_for`."""
        backend = backend or self.settings.answer_backend
        retrieval = self.retrieve_followup(question, history or [], backend, top_k, search_filter)
        return self.answer(retrieval, backend=backend, on_token=on_token)

    def retrieve_followup(self, question: str, history: list[Turn], backend: str,
                          top_k: int | None = None,
                          search_filter: SearchFilter | None = None) -> Retrieval:
        """Retrieve for the standalone form of `question`; the answer will be in the language
        the question was asked in (the conversation's, when a fragment shows none)."""
        question = clean_question(question)
        searched_for = self.standalone_question(question, history, backend)
        retrieval = self.retrieve(searched_for, top_k, search_filter)
        retrieval.asked = question
        retrieval.language = detect_language(question, default=retrieval.language)
        return retrieval

    def standalone_question(self, question: str, history: list[Turn], backend: str) -> str:
        """The question to search for: rewritten by rules (extractive backend), or by the LLM
        where the rules see a follow-up, with the rules' rewrite as the fallback."""
        question = clean_question(question)
        rewritten = rewrite_followup(question, history)
        if backend == "extractive" or rewritten == question:
            return rewritten
        return clean_question(self.llm_answerer(backend).condense(question, history, rewritten))

    def retrieve(self, question: str, top_k: int | None = None,
                 search_filter: SearchFilter | None = None) -> Retrieval:
        question = clean_question(question)
        snapshot = self.snapshot()
        language = detect_language(question)
        query = self.retriever.encode_question(snapshot, question)
        search_terms = self.retriever.search_terms(snapshot, question)
        top_k = top_k or self.settings.top_k
        reread = self.settings.reader_rerank_passages
        found = self.retriever.retrieve(snapshot, question, max(top_k, reread), search_filter,
                                        query, search_terms)
        idf = snapshot.term_idf(search_terms)
        passages = found.passages
        stored = (snapshot.sentence_vectors
                  if kept_by(snapshot, self.embedder) else None)
        if reread > 1:
            support = self.answerer.passage_support(question, passages[:reread], idf,
                                                    query.dense, found.dense_margin, language,
                                                    query.latent, stored)
            passages = reader_rerank(passages, support, self.settings.reader_rerank_weight)
        return Retrieval(question, passages[:top_k], query.dense, idf, found.dense_margin,
                         language=language, query_latent=query.latent, stored_sentences=stored)

    def answer(self, retrieval: Retrieval, top_k: int | None = None, backend: str | None = None,
               on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer from the first `top_k` retrieved passages (all of them by default)."""
        passages = retrieval.passages[: top_k or len(retrieval.passages)]
        args = (retrieval.question, passages, retrieval.idf, retrieval.query_vector,
                retrieval.dense_margin)
        backend = backend or self.settings.answer_backend
        if backend == "extractive":
            answer = self.answerer.answer(*args, language=retrieval.language,
                                          query_latent=retrieval.query_latent,
                                          stored=retrieval.stored_sentences)
        else:
            answer = self.llm_answerer(backend).answer(*args, on_token=on_token,
                                                       language=retrieval.language)
        if retrieval.asked and retrieval.asked != retrieval.question:
            answer.question = retrieval.asked
            answer.searched_for = retrieval.question
        for citation in answer.citations:
            citation.answer_spans = answer_spans(retrieval.question, citation.quote)
        return answer

    def llm_answerer(self, backend: str) -> LLMAnswerer:
        if backend not in self._llm_answerers:
            settings = self.settings.model_copy(update={"answer_backend": backend})
            self._llm_answerers[backend] = LLMAnswerer(settings, fallback=self.answerer)
        return self._llm_answerers[backend]


@dataclass
class Retrieval:
    question: str
    passages: list[Passage]
    query_vector: np.ndarray
    idf: dict[str, float]  # of the question's search terms (with an English one's translations)
    dense_margin: DenseMargin
    language: str = "sv"  # of the answer
    asked: str | None = None  # the question as asked, when `question` is its standalone form
    query_latent: LatentVector | None = None  # the question's latent terms, where computed
    stored_sentences: StoredSentences | None = None  # the index's sentence vectors, where usable


MAX_QUESTION_CHARS = 2000
BUILD_WAIT_S = 900


def clean_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise ValueError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return question
