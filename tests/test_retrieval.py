"""Retrieval over the real bundled model and a real on-disk index of the bundled corpus."""

import math

import pytest

from assistant.evaluate import first_hit_rank, load_questions
from assistant.records import Chunk, Passage
from assistant.retrieval import (Retriever, SearchFilter, distinct_head, document_prior,
                                 overlap_share, reader_rerank, reciprocal_rank_fusion,
                                 zscore_fusion)

from .conftest import QUESTIONS

# Hand-written questions covering all five documents, OCR-damaged ones included (n-*, l-*),
# in Swedish and English. Each must find the passage holding its evidence within the top 5.
COVERED = [
    "v-jobbpakker-sv", "v-jobbpakker-en", "v-solna-avtal", "v-pirkkala-invanare", "v-sfi-lokaler",
    "t-syfte", "t-ambassador", "t-utsatt", "t-seminarium-efter",
    "e-pengar", "e-krav", "e-systemniva", "e-talare",
    "n-forutsattningar", "n-valdeltagande", "n-openlab", "n-knowyourrights", "n-laxlasning",
    "l-datum", "l-vard", "l-perols", "l-deltagare", "l-dive-stader",
]
GOLD = {q.id: q for q in load_questions(QUESTIONS)}


@pytest.mark.parametrize("qid", COVERED)
def test_question_finds_its_evidence_in_top_5(corpus_assistant, qid):
    question = GOLD[qid]
    retrieval = corpus_assistant.retrieve(question.question, 5)
    rank = first_hit_rank(retrieval.passages, question)
    assert rank is not None, [p.text[:80] for p in retrieval.passages]


def test_covered_questions_span_all_documents():
    sources = {GOLD[q].evidence[0].source for q in COVERED}
    assert len(sources) == 5


def test_filter_restricts_to_chosen_documents(corpus_assistant):
    only = "stockholm-studieresa-toronto.txt"
    retrieval = corpus_assistant.retrieve("Vad gjorde Gladsaxe med jobbpakker?", 5,
                                          SearchFilter(sources=frozenset({only})))
    assert retrieval.passages
    assert {p.source for p in retrieval.passages} == {only}
    nothing = corpus_assistant.retrieve("Gladsaxe", 5, SearchFilter(sources=frozenset({"nej.txt"})))
    assert nothing.passages == []


def test_filter_by_organisation_and_year(corpus_assistant):
    retrieval = corpus_assistant.retrieve("integration", 5, SearchFilter(years=frozenset({"2010"})))
    assert {p.source for p in retrieval.passages} == {
        "stockholm-eurocities-integrating-cities-london-2010.txt"}


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([([1, 2, 3], 1.0), ([3, 1, 4], 1.0)], k=60)
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and fused[4] < fused[2]


def test_zscore_fusion_keeps_a_clear_winner_of_one_method():
    # 7 stands far above the rest in BM25 and is second in dense: it should win over 1, which is
    # only slightly ahead in dense and absent from BM25's top
    dense = {1: 0.86, 2: 0.85, 3: 0.84, 7: 0.855}
    bm25 = {1: 0.0, 2: 1.0, 3: 1.2, 7: 9.0}
    fused = zscore_fusion([(dense, 0.6), (bm25, 0.4)])
    assert max(fused, key=fused.get) == 7
    assert zscore_fusion([({5: 0.9}, 1.0)]) == {5: 0.0}  # one candidate: nothing to standardise


def test_rank_fusion_setting_still_answers(corpus_assistant):
    settings = corpus_assistant.settings.model_copy(update={"fusion": "rrf", "dense_weight": 1.0,
                                                             "bm25_weight": 1.0})
    found = Retriever(corpus_assistant.embedder, settings).retrieve(
        corpus_assistant.snapshot(), "Vad gjorde Gladsaxe med jobbpakker?", 5)
    assert found.passages[0].source == "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt"
    assert all(a.score >= b.score for a, b in zip(found.passages, found.passages[1:]))


class _OtherRecipe:
    """The bundled embedder under a latent-term id no index here was built with."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.id, self.dim = embedder.id, embedder.dim
        self.latent_id = embedder.latent_id + "/another-recipe"

    def __getattr__(self, name):
        return getattr(self._embedder, name)


def test_latent_terms_of_another_recipe_are_not_mixed_and_the_log_says_so(corpus_assistant,
                                                                           caplog):
    from assistant.indexer import expected_manifest
    from assistant.index_engine import LiveIndex

    question = "Vad gjorde Gladsaxe med jobbpakker?"
    embedder = _OtherRecipe(corpus_assistant.embedder)
    live = LiveIndex(corpus_assistant.store, expected_manifest(corpus_assistant.settings, embedder))
    other = Retriever(embedder, corpus_assistant.settings)
    # the sentence vectors' recipe names the latent terms too, so neither is used
    unranked = Retriever(corpus_assistant.embedder, corpus_assistant.settings.model_copy(
        update={"latent_rerank": False, "sentence_dense": False}))
    with caplog.at_level("WARNING", logger="assistant.store"):
        found = other.retrieve(live.snapshot(), question, 10)
        other.retrieve(live.snapshot(), question, 10)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "index --rebuild" in warnings[0]
    assert [p.chunk_id for p in found.passages] == \
        [p.chunk_id for p in unranked.retrieve(live.snapshot(), question, 10).passages]


def test_overlapping_chunks_of_one_document_do_not_fill_the_passages():
    chunks = {
        1: Chunk("a.txt", 0, "x" * 200, 0, 200),
        2: Chunk("a.txt", 1, "x" * 200, 80, 280),  # 120 of 200 shared with chunk 1
        3: Chunk("b.txt", 0, "y" * 200, 80, 280),  # same offsets, another document
        4: Chunk("a.txt", 2, "x" * 200, 160, 360),  # 40 of 200 shared with chunk 1
    }
    assert overlap_share(chunks[1], chunks[2]) == pytest.approx(0.6)
    assert overlap_share(chunks[1], chunks[3]) == 0.0
    assert distinct_head([1, 2, 3, 4], chunks, 3, 0.5) == [1, 3, 4]
    assert distinct_head([1, 2, 3, 4], chunks, 3, 1.0) == [1, 2, 3]


def test_retrieved_passages_do_not_repeat_each_other(corpus_assistant):
    for qid in COVERED:
        retrieval = corpus_assistant.retrieve(GOLD[qid].question, 5)
        chunks = corpus_assistant.snapshot().chunks([p.chunk_id for p in retrieval.passages])
        shown = list(chunks.values())
        assert len(shown) == 5
        assert all(overlap_share(a, b) <= corpus_assistant.settings.max_passage_overlap
                   for i, a in enumerate(shown) for b in shown[i + 1:])


def test_document_prior_lifts_a_passage_of_the_document_with_several_good_ones():
    # chunk 4 of the report is just below a lone statute chunk; its document holds two more
    # good candidates, the statute none
    scores = {1: 3.0, 2: 2.0, 3: 1.9, 4: 2.05, 5: 0.1, 6: 0.0}
    source = {1: "report", 2: "statute", 3: "report", 4: "report", 5: "other", 6: "another"}
    rescored = document_prior(scores, source, weight=0.7)
    assert rescored[4] > rescored[2] and rescored[3] > rescored[2]
    assert max(rescored, key=rescored.get) == 1
    assert document_prior(scores, source, weight=0.0)[2] > document_prior(scores, source, 0.0)[3]
    assert document_prior({9: 1.0}, {9: "x"}, 0.7) == {9: 1.0}  # nothing to compare


def test_a_cooler_document_prior_weighs_a_documents_best_passage_over_its_many_middling_ones():
    # a long statute with many middling candidates against a report with one strong one
    scores = {1: 2.0, 2: 0.6, 3: 0.6, 4: 0.6, 5: 0.6, 6: 0.6, 7: 0.0, 8: 0.0}
    source = {1: "report", **{i: "statute" for i in range(2, 7)}, 7: "x", 8: "y"}
    plain = document_prior(scores, source, weight=0.7)
    cool = document_prior(scores, source, weight=0.7, temperature=0.3)
    assert cool[1] - cool[2] > plain[1] - plain[2]
    # at the temperature 1 the plain log-sum-exp
    assert document_prior(scores, source, 0.7, temperature=1.0) == plain
    # however low the temperature, the scores stay finite and the report stays first
    frozen = document_prior(scores, source, weight=0.7, temperature=1e-6)
    assert all(math.isfinite(v) for v in frozen.values()) and max(frozen, key=frozen.get) == 1


def test_document_prior_ranks_by_the_scores_it_reports(corpus_assistant):
    found = corpus_assistant.retriever.retrieve(
        corpus_assistant.snapshot(), "How many people came to Solna in 2007?", 5)
    assert len(found.passages) == 5
    assert all(a.score >= b.score for a, b in zip(found.passages, found.passages[1:]))


def test_reader_rerank_lifts_the_passage_whose_sentence_answers():
    passages = [Passage(chunk_id=i, source="a.txt", title="", text=f"passage {i}", page=None,
                        section=None, score=score)
                for i, score in enumerate([3.0, 2.9, 2.5, 1.0, 0.5])]
    # the reader finds a likely answer only in the third passage; the last two were not read
    ranked = reader_rerank(passages, [0.1, 0.2, 0.9], weight=2.0)
    assert [p.chunk_id for p in ranked] == [2, 1, 0, 3, 4]
    assert all(a.score > b.score for a, b in zip(ranked, ranked[1:]))
    assert [p.chunk_id for p in reader_rerank(passages, [0.1, 0.2, 0.9], 0.0)] == [0, 1, 2, 3, 4]
    assert reader_rerank(passages[:1], [0.5], 2.0) == passages[:1]


def test_retrieval_re_ranks_by_the_reader_and_shows_top_k(corpus_assistant):
    # the programme's 2 May row answers; without the reader, a passage sharing more of the
    # question's words (the trip, Toronto) comes first
    question = "Vad händer den 2 maj i Toronto?"
    unread = corpus_assistant.settings.model_copy(update={"reader_rerank_passages": 0})
    plain = type(corpus_assistant)(unread, corpus_assistant.embedder).retrieve(question, 3)
    reranked = corpus_assistant.retrieve(question, 3)
    assert len(plain.passages) == len(reranked.passages) == 3
    assert "Cirka 2 studiebesök" not in plain.passages[0].text
    assert "Cirka 2 studiebesök" in reranked.passages[0].text
    assert all(a.score >= b.score for a, b in zip(reranked.passages, reranked.passages[1:]))
