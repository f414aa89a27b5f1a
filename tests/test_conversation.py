"""Follow-up questions: the deterministic rewrite, history files, and `ask --history`."""

import json

import pytest

from assistant.conversation import HistoryError, Turn, load_history, rewrite_followup
from assistant.evaluate import load_followups, load_questions

from .conftest import QUESTIONS, ROOT
from .test_cli import run

GLADSAXE = "Vad gjorde Gladsaxe med jobbpakker?"


@pytest.mark.parametrize("previous, question, expected", [
    (GLADSAXE, "Och Pirkkala?", "Vad gjorde Pirkkala med jobbpakker?"),
    ("What did Gladsaxe do with jobbpakker?", "What about Solna?",
     "What did Solna do with jobbpakker?"),
    ("Hur många invånare har Pirkkala?", "Och Solna då?", "Hur många invånare har Solna?"),
    ("How many people came to Solna in 2007?", "And in 2008?",
     "How many people came to Solna in 2008?"),
    ("Vilka kritiska faktorer finns på projektnivå enligt ESF-rådet?", "Och på systemnivå?",
     "Vilka kritiska faktorer finns på systemnivå enligt ESF-rådet?"),
    ("Var hålls seminariet före studieresan?", "Och seminariet efter resan?",
     "Var hålls seminariet efter resan?"),
    ("Hur många invånare har Pirkkala?", "Hur många flyktingar kommer dit varje år?",
     "Hur många flyktingar kommer till Pirkkala varje år?"),
    ("How many inhabitants does Pirkkala have?", "How many immigrants live there?",
     "How many immigrants live in Pirkkala?"),
    (GLADSAXE, "Hur många deltog där?", "Hur många deltog i Gladsaxe?"),
])
def test_elliptical_and_locative_follow_ups_become_standalone(previous, question, expected):
    assert rewrite_followup(question, [Turn(previous)]) == expected


def test_a_pronoun_takes_the_person_named_in_the_previous_answer():
    turn = Turn("Vem från Stockholms stad ingår i Eurocities arbetsgrupp?",
                "I arbetsgruppen ingår Karin Perols, flyktingsamordnare. [1]")
    assert rewrite_followup("Var arbetar hon?", [turn]) == "Var arbetar Karin Perols?"
    assert rewrite_followup("What is his role?", [Turn("Who hosts it?", "Boris Johnson [1]")]) \
        == "What is Boris Johnson's role?"


def test_a_pronoun_without_a_name_to_take_carries_the_previous_question():
    rewritten = rewrite_followup("Vem ledde det?", [Turn("Vad var DIVE-projektet?")])
    assert rewritten == "Vem ledde det? (Vad var DIVE-projektet?)"
    # a chain carries the standalone form of the turn before, not its short form
    chain = [Turn("Vilka är de största invandrargrupperna i Gladsaxe?"),
             Turn("Och i Pirkkala?", "", "Vilka är de största invandrargrupperna i Pirkkala?")]
    assert "Pirkkala" in rewrite_followup("Hur många invånare har kommunen?", chain)


@pytest.mark.parametrize("question", [
    "Vem är socialdirektör i Pirkkala?",
    "Var planerades det konkreta arbetsmötet i slutet av augusti?",
    "Is the group that takes part in Coro's programme representative of volunteers?",
    "Vilka krav ställs på framtida projekt?",
    "What should cities do as purchasers of goods and services according to the charter?",
])
def test_a_question_that_stands_on_its_own_is_left_alone(question):
    assert rewrite_followup(question, [Turn(GLADSAXE, "Inom Jobbcenter … [1]")]) == question
    assert rewrite_followup("Och Pirkkala?", []) == "Och Pirkkala?"  # nothing to lean on


def test_no_question_of_the_gold_set_is_rewritten_after_any_other():
    questions = [q.question for q in load_questions(QUESTIONS)]
    changed = [(p, q) for p in questions[::7] for q in questions
               if rewrite_followup(q, [Turn(p)]) != " ".join(q.split())]
    assert changed == []


def test_the_follow_up_set_is_large_enough_and_in_both_languages():
    conversations = load_followups(ROOT / "eval" / "followups.jsonl")
    golds = [t.gold for c in conversations for t in c.turns if t.gold]
    assert len(conversations) >= 30 and len(golds) >= 30
    assert {g.language for g in golds} == {"sv", "en"}


@pytest.mark.parametrize("content, problem", [
    (b"{not json", "not valid JSON"),
    (b'{"question": "x"}', "must be a JSON list"),
    (b'[{"answer": "x"}]', "turn 1 has no question"),
    (b'[{"question": "x", "answer": 5}]', "turn 1: answer must be text"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_a_bad_history_file_is_named_with_its_problem(tmp_path, content, problem):
    path = tmp_path / "history.json"
    path.write_bytes(content)
    with pytest.raises(HistoryError) as error:
        load_history(path)
    assert str(path) in str(error.value) and problem in str(error.value)
    with pytest.raises(HistoryError, match="no such file"):
        load_history(tmp_path / "missing.json")


def test_ask_with_history_searches_the_standalone_question(corpus_assistant, tmp_path):
    index = str(corpus_assistant.settings.index_dir)
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"question": "Vilka är de största invandrargrupperna i "
                                                "Gladsaxe?", "answer": "Pakistan, Turkiet … [1]"}],
                                  ensure_ascii=False), "utf-8")
    result = run("ask", "Och i Pirkkala?", "--history", str(history), "--json", "--index", index,
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["question"] == "Och i Pirkkala?"
    assert payload["searched_for"] == "Vilka är de största invandrargrupperna i Pirkkala?"
    assert "Bosnien" in payload["answer"]
    plain = run("ask", "Och i Pirkkala?", "--index", index, cwd=tmp_path)
    assert "Sökte efter" not in plain.stdout
    text = run("ask", "Och i Pirkkala?", "--history", str(history), "--index", index, cwd=tmp_path)
    assert text.stdout.startswith("(Sökte efter: Vilka är de största invandrargrupperna i Pirkkala?)")
    history.write_text("[1, 2]", "utf-8")
    bad = run("ask", "Och i Pirkkala?", "--history", str(history), "--index", index, cwd=tmp_path)
    assert bad.returncode == 2 and str(history) in bad.stderr and "Traceback" not in bad.stderr


def test_every_follow_up_quotes_its_document():
    from assistant.evaluate import check_evidence

    from .conftest import CORPUS

    conversations = load_followups(ROOT / "eval" / "followups.jsonl")
    assert check_evidence([t.gold for c in conversations for t in c.turns if t.gold], CORPUS) == []


@pytest.mark.parametrize("line, problem", [
    ('{"id": "a", "turns": "Och Pirkkala?"}', "not a valid conversation"),
    ('{"id": "a", "turns": [{"question": "Vad?"}]}', "a conversation needs a follow-up with evidence"),
    ('{"turns": []}', "not a valid conversation"),
    ('{"id": "a", "turns": [{"question": "Vad?"}, {"question": "Och?", "evidence": "x"}]}',
     "not a valid conversation"),
])
def test_a_bad_follow_up_set_names_the_line(tmp_path, line, problem):
    from assistant.evaluate import QuestionSetError

    path = tmp_path / "followups.jsonl"
    path.write_text("\n" + line + "\n", "utf-8")
    with pytest.raises(QuestionSetError, match=f"{path}:2: {problem}"):
        load_followups(path)
