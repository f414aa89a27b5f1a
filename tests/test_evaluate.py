"""The evaluation's metric code on hand-made cases, and the evidence check of the gold set."""

import json

import pytest

from assistant.evaluate import (GoldQuestion, Evidence, QuestionSetError, breakdown,
                                breakdown_table, check_evidence, failed_thresholds, half,
                                load_questions, metrics, score)
from assistant.records import Answer, Citation, Passage

from .conftest import CORPUS, QUESTIONS


def passage(text, source="a.txt", chunk_id=0):
    return Passage(chunk_id=chunk_id, source=source, title="T", text=text, page=None,
                   section=None, score=1.0)


def question(qid="q", answerable=True, quote="tolv jobbpakker", source="a.txt", keywords=(("tolv",),)):
    evidence = [Evidence(source, quote)] if answerable else []
    return GoldQuestion(qid, "Fråga?", answerable, evidence, [list(k) for k in keywords])


def answer(text, passages, citations, abstained=False):
    return Answer(question="Fråga?", text=text, abstained=abstained, passages=passages,
                  citations=citations, language="sv")


def test_hit_at_rank_3_and_citations():
    retrieved = [passage("annat"), passage("mer annat", chunk_id=1),
                 passage("De hade  Tolv\njobbpakker.", chunk_id=2), passage("x", chunk_id=3)]
    cited = Citation(n=3, sentence="De hade tolv jobbpakker.", supported=True, support=1.0,
                     passage=retrieved[2])
    out_of_range = Citation(n=9, sentence="Påhittat.", supported=False, support=0.0, passage=None)
    result = score(question(), retrieved,
                   answer("De hade tolv jobbpakker. [3] Påhittat. [9]", retrieved[:5],
                          [cited, out_of_range]), 0.1)
    assert result.hit_rank == 3 and result.cites_evidence and result.keywords_ok
    values = metrics([result])
    assert values["hit_at_1"] == 0 and values["hit_at_3"] == 1 and values["hit_at_5"] == 1
    assert values["mrr_at_10"] == pytest.approx(1 / 3)
    assert values["out_of_range_citations"] == 1
    assert values["citation_precision"] == 0.5


def test_wrong_abstention_and_right_abstention():
    retrieved = [passage("tolv jobbpakker")]
    wrong = score(question("a"), retrieved, answer("Dokumenten besvarar inte.", retrieved, [],
                                                   abstained=True), 0.2)
    right = score(question("u", answerable=False), retrieved,
                  answer("Dokumenten besvarar inte.", retrieved, [], abstained=True), 0.3)
    loose = score(question("v", answerable=False), retrieved,
                  answer("tolv jobbpakker [1]", retrieved, []), 0.4)
    values = metrics([wrong, right, loose])
    assert values["wrong_abstentions"] == 1
    assert values["abstained_unanswerable"] == 1 and values["abstention_rate"] == 0.5
    assert values["hit_at_1"] == 1 and values["citation_hit"] == 0
    assert failed_thresholds(values, {"hit_at_1": 0.9, "citation_hit": 0.5},
                             {"wrong_abstentions": 0}) == [
        "citation_hit = 0.000 < 0.5", "wrong_abstentions = 1.000 > 0"]


def test_gold_set_evidence_occurs_in_the_corpus():
    questions = load_questions(QUESTIONS)
    assert sum(q.answerable for q in questions) >= 40
    assert sum(not q.answerable for q in questions) >= 6
    assert len({q.evidence[0].source for q in questions if q.answerable}) == 5
    assert check_evidence(questions, CORPUS) == []


def test_evidence_check_reports_a_quote_that_is_not_in_its_file(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({
        "id": "bad", "question": "?", "answerable": True,
        "source": "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt",
        "evidence": "Gladsaxe har 99 jobbpakker", "keywords": []}) + "\n", encoding="utf-8")
    problems = check_evidence(load_questions(path), CORPUS)
    assert len(problems) == 1 and "bad: evidence not found" in problems[0]


def test_malformed_question_line_is_named(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(QuestionSetError, match="q.jsonl:1"):
        load_questions(path)


def test_breakdown_reports_each_half_by_language_and_kind():
    retrieved = [passage("tolv jobbpakker finns")]
    cited = [Citation(1, "tolv jobbpakker", True, 1.0, retrieved[0])]
    results = []
    for qid, language, kind in [("a1", "sv", "number"), ("a2", "en", "number"),
                                ("a3", "en", "person"), ("a4", "sv", "place")]:
        q = question(qid)
        q.language, q.kind = language, kind
        results.append(score(q, retrieved, answer("tolv jobbpakker [1]", retrieved, cited), 0.1))
    results.append(score(question("u1", answerable=False), retrieved,
                         answer("Dokumenten besvarar inte.", retrieved, [], abstained=True), 0.1))
    rows = breakdown(results)
    for name in ("tune", "test"):
        part = [r for r in results if half(r.question.id) == name]
        overall = next(r for r in rows if r["half"] == name and r["group"] == "all")
        assert overall["answerable"] == sum(r.question.answerable for r in part)
        assert overall["unanswerable"] == sum(not r.question.answerable for r in part)
    english = [r for r in rows if r["group"] == "language en"]
    assert sum(r["answerable"] for r in english) == 2
    assert all(r["citation_hit"] == 1.0 for r in english)
    assert sum(r["refused_unanswerable"] for r in rows if r["group"] == "all") == 1
    table = breakdown_table(rows)
    assert "kind number" in table and "language sv" in table


def test_questions_a_distractor_answers_are_left_out_of_an_index_built_with_distractors(
        small_corpus, tmp_path):
    from assistant.config import Settings
    from assistant.evaluate import evaluate

    distractors = tmp_path / "more"
    distractors.mkdir()
    (distractors / "busskort.txt").write_text(
        "Busskort i Göteborg\n\nEtt månadskort för buss i Göteborg kostar 865 kronor.\n", "utf-8")
    source = sorted(p.name for p in small_corpus.glob("*.txt"))[0]
    quote = " ".join((small_corpus / source).read_text("utf-8").split()[20:28])
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "a", "question": f"Vad står det om {quote}?", "language": "sv",
         "answerable": True, "source": source, "evidence": quote, "kind": "other",
         "keywords": [[quote.split()[0]]]},
        {"id": "u", "question": "Vad kostar ett månadskort för buss i Göteborg?", "language": "sv",
         "answerable": False, "distractors_answer": True},
    ]) + "\n", "utf-8")
    index = tmp_path / "index"
    settings = Settings(corpus_dir=small_corpus, index_dir=index)
    built = evaluate(settings, questions, small_corpus, distractors=distractors, index_dir=index)
    assert [r.question.id for r in built.results] == ["a"]
    # the same index again, without naming the distractors: the question is still left out
    again = evaluate(settings, questions, small_corpus, index_dir=index)
    assert [r.question.id for r in again.results] == ["a"]
    assert any("left out" in note and "u" in note for note in again.notes)
    # an index of the corpus alone counts it as a question nothing answers
    alone = evaluate(settings, questions, small_corpus, index_dir=tmp_path / "plain")
    assert sorted(r.question.id for r in alone.results) == ["a", "u"]
