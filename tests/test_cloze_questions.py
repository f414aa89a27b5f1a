"""The cloze questions that the reader's weights may be learned from (eval/cloze_questions.py)."""

import importlib
from pathlib import Path

import pytest

from assistant.answer_types import answer_kind

DOCUMENTS = [
    (f"distractors/d{i}.txt", text) for i, text in enumerate([
        "Under 2007 kom 118 personer till kommunen och fick bostad genom arbetsförmedlingen. "
        "Se https://example.org/rapport.pdf för hela rapporten med alla tabeller och bilagor.",
        "Utredningen ska redovisa sitt uppdrag senast den 1 mars 2023 till Regeringskansliet "
        "och Arbetsmarknadsdepartementet.",
        "Uppdraget leds av Ulla Johansson som är samordnare för hela länets mottagande av "
        "nyanlända.",
        "Kommunerna ska samverka med civilsamhället kring språkträning för nyanlända vuxna i "
        "hela landet.",
    ] * 5)
]


@pytest.fixture
def cloze(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "eval"))
    return importlib.import_module("cloze_questions")


def test_each_question_asks_for_what_its_sentence_answers_without_holding_it(cloze):
    questions = cloze.cloze_questions(DOCUMENTS, 12, seed=1)
    assert len(questions) == 12
    texts = dict(DOCUMENTS)
    for q in questions:
        (evidence,) = q.evidence
        assert evidence.quote in " ".join(texts[evidence.source].split())
        assert q.answerable and q.question.endswith("?")
        assert answer_kind(q.question) is cloze.ASKED[q.kind]
        for (answer,) in q.keywords:
            assert answer not in q.question  # taken out of the sentence it was asked from
        assert "https" not in evidence.quote  # an address is no prose to ask about
    assert {q.kind for q in questions} >= {"number", "date", "person"}


def test_the_same_seed_makes_the_same_questions_and_some_are_english(cloze):
    first = cloze.cloze_questions(DOCUMENTS, 12, seed=3)
    again = cloze.cloze_questions(DOCUMENTS, 12, seed=3)
    assert [q.question for q in first] == [q.question for q in again]
    english = [q for q in first if q.language == "en"]
    assert english and all(q.question.split()[0] in {"How", "When", "Who", "What"}
                           for q in english)


def test_english_questions_gloss_the_swedish_words_they_keep(cloze):
    assert cloze._english("kommunen") != "kommunen"
    assert cloze._english("Solna") == "Solna"  # a name stays as it is
    assert cloze._english("2007") == "2007"
