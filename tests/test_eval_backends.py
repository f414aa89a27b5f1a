"""`eval --backend openai` and follow-ups through an LLM, against the real local test server."""

import json

import pytest

from assistant.conversation import Turn

from .conftest import CORPUS, QUESTIONS
from .llm_server import Reply, ScriptedLLMServer
from .test_cli import run

HANG_S = 20.0
# What the scripted model answers, by a text of the question. {cite:X} / {other:X} become the
# number of a shown passage that holds / does not hold X.
SCRIPT = {
    # two sentences, each citing the passage that holds it, the second also a passage that
    # does not exist
    "jobbpakker": Reply("Gladsaxe arbetar inom Jobbcenter med 12 stycken jobbpakker "
                        "[{cite:12 stycken jobbpakker}]. Man får ett kompetenskort vid genomfört "
                        "pakke [{cite:kompetenskort vid genomfört pakke}][7]."),
    # one sentence citing a passage that does not hold it
    "invånare har Pirkkala": Reply("Pirkkala har 15 639 invånare [{other:15 639}]."),
    # one sentence citing the right passage and a wrong one
    "kontaktperson": Reply("Kajsa Rosén på Ramböll Management är kontaktperson för "
                           "studiebesöken [{cite:Kajsa Rosén}][{other:Kajsa Rosén}]."),
    "värd för konferensen": Reply("Dokumenten besvarar inte den här frågan."),
    "Solna in 2007": Reply("For sent [1].", delay_s=HANG_S),
}
# sentences 2 + 1 + 1, supported by their citations 2 + 0 + 1; citations 3 + 1 + 2, each
# supporting its sentence alone 2 + 0 + 1
EXPECTED_RECALL = 3 / 4
EXPECTED_PRECISION = 3 / 6
IDS = ["v-jobbpakker-sv", "v-pirkkala-invanare", "t-kontakt", "l-vard", "v-solna-2007", "u-malmo"]


@pytest.fixture(scope="module")
def server():
    with ScriptedLLMServer() as running:
        running.script = dict(SCRIPT)
        running.reply = Reply("Dokumenten besvarar inte den här frågan.")
        yield running


@pytest.fixture
def question_file(tmp_path):
    chosen = [line for line in QUESTIONS.read_text("utf-8").splitlines()
              if json.loads(line)["id"] in IDS]
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(chosen) + "\n", "utf-8")
    return path


def run_eval(corpus_assistant, server, question_file, tmp_path, *gates):
    out = tmp_path / "eval.json"
    result = run("eval", "--questions", str(question_file), "--index",
                 str(corpus_assistant.settings.index_dir), "--corpus", str(CORPUS),
                 "--backend", "openai",
                 "--llm-base-url", server.url + "/v1", "--llm-model", "scripted", "--no-followups",
                 "--json", str(out), *gates, cwd=tmp_path, env={"ASSISTANT_LLM_TIMEOUT_S": "2"})
    return result, (json.loads(out.read_text("utf-8")) if out.is_file() else None)


def test_eval_measures_how_the_models_answers_cite(corpus_assistant, server, question_file,
                                                   tmp_path):
    result, report = run_eval(corpus_assistant, server, question_file, tmp_path)
    assert result.returncode == 0, result.stderr
    values = report["metrics"]
    assert values["answer_citation_recall"] == pytest.approx(EXPECTED_RECALL)
    assert values["answer_citation_precision"] == pytest.approx(EXPECTED_PRECISION)
    assert values["judged_answers"] == 3
    assert values["fallbacks"] == 2 and values["fallbacks_failed"] == 1
    assert values["flagged_sentences"] == 2 and values["removed_citations"] == 1
    assert values["abstained_unanswerable"] == 1 and values["wrong_abstentions"] == 1
    assert values["tokens_reported_by_server"] is True and values["tokens_out_mean"] > 0
    row = next(line for line in result.stdout.splitlines() if "own citations" in line)
    assert "| 0.750 / 0.500 (3 answers) |" in row

    by_id = {q["id"]: q for q in report["questions"]}
    good = by_id["v-jobbpakker-sv"]
    assert good["backend"] == "openai" and good["fallback"] is None
    assert good["raw_answer"].startswith("Gladsaxe arbetar inom Jobbcenter")
    assert good["citation_quality"] == {"sentences": 2, "supported_sentences": 2,
                                        "citations": 3, "supporting_citations": 2}
    assert "[7]" not in good["answer"] and "[7]" in good["raw_answer"]
    assert good["usage"]["output_tokens"] == len(good["raw_answer"].split())
    wrong = by_id["v-pirkkala-invanare"]
    assert wrong["fallback"] == "unverified" and wrong["backend"] == "extractive"
    assert wrong["raw_answer"].startswith("Pirkkala har 15 639 invånare [")
    assert "15 639" in wrong["answer"] and wrong["raw_answer"] != wrong["answer"]
    half_right = by_id["t-kontakt"]
    assert half_right["fallback"] is None and len(half_right["flagged"]) == 1
    assert by_id["l-vard"]["abstained"] is True
    timed_out = by_id["v-solna-2007"]
    assert timed_out["fallback"] == "failed" and timed_out["raw_answer"] is None
    assert timed_out["seconds"] < HANG_S / 2


def test_eval_gates_fail_on_the_models_figures(corpus_assistant, server, question_file, tmp_path):
    result, _ = run_eval(corpus_assistant, server, question_file, tmp_path,
                         "--min-answer-citation-recall", "0.9", "--max-fallbacks", "1")
    assert result.returncode == 1
    assert "threshold not met: answer_citation_recall = 0.750 < 0.9" in result.stderr
    assert "threshold not met: fallbacks = 2.000 > 1" in result.stderr


def test_a_follow_up_is_condensed_by_the_model(corpus_assistant, server):
    from .test_llm import llm_assistant

    server.condense = {"Pirkkala": Reply("Standalone question: What are the largest immigrant "
                                         "groups in Pirkkala?")}
    assistant = llm_assistant(corpus_assistant, server, "openai", "/v1", False)
    history = [Turn("Vilka är de största invandrargrupperna i Gladsaxe?",
                    "Pakistan, Turkiet, Jugoslavien, Iran och Somalia. [1]")]
    before = len(server.requests)
    answer = assistant.ask("Och i Pirkkala?", history=history)
    assert answer.searched_for == "What are the largest immigrant groups in Pirkkala?"
    assert answer.question == "Och i Pirkkala?" and answer.language == "sv"
    condense = server.requests[before]["body"]["messages"]
    assert "standalone question" in condense[0]["content"]
    assert "Gladsaxe" in condense[1]["content"] and "Pakistan" in condense[1]["content"]
    assert condense[1]["content"].endswith("Follow-up Question: Och i Pirkkala?")

    # a question that stands on its own is not sent to be rewritten
    before = len(server.requests)
    standalone = assistant.ask("Hur många invånare har Pirkkala?", history=history)
    assert standalone.searched_for is None
    assert all("standalone question" not in r["body"]["messages"][0]["content"]
               for r in server.requests[before:])


@pytest.mark.parametrize("reply", [Reply(status=500), Reply(""), Reply("x" * 900),
                                   Reply("Pirkkala har 15 639 invånare [1]."),
                                   Reply("Dokumenten besvarar inte den här frågan.")])
def test_a_failed_condense_falls_back_to_the_rules(corpus_assistant, server, reply):
    from .test_llm import llm_assistant

    server.condense = {"Pirkkala": reply}
    assistant = llm_assistant(corpus_assistant, server, "ollama", "", False)
    answer = assistant.ask("Och i Pirkkala?",
                           history=[Turn("Vilka är de största invandrargrupperna i Gladsaxe?")])
    assert answer.searched_for == "Vilka är de största invandrargrupperna i Pirkkala?"


def test_bench_llm_compares_the_model_with_the_extractive_answers(corpus_assistant, server,
                                                                  question_file, tmp_path,
                                                                  monkeypatch):
    import sys

    monkeypatch.setenv("ASSISTANT_LLM_TIMEOUT_S", "2")
    from .conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_llm

    followups = tmp_path / "followups.jsonl"
    followups.write_text(json.dumps({"id": "f", "language": "sv", "turns": [
        {"question": "Vilka är de största invandrargrupperna i Gladsaxe?"},
        {"question": "Och i Pirkkala?", "source": "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt",
         "evidence": "De största invandrargrupperna är personer från; Bosnien",
         "keywords": [["Bosnien"]]}]}, ensure_ascii=False) + "\n", "utf-8")
    out = tmp_path / "llm.json"
    server.condense = {}
    assert bench_llm.main([server.url + "/v1", "scripted", "--index",
                           str(corpus_assistant.settings.index_dir), "--corpus", str(CORPUS),
                           "--questions", str(question_file), "--followups", str(followups),
                           "--out", str(out)]) == 0
    report = json.loads(out.read_text("utf-8"))
    assert list(report["metrics"]) == ["extractive", "openai: scripted"]
    model = report["metrics"]["openai: scripted"]
    assert model["answer_citation_precision"] == pytest.approx(EXPECTED_PRECISION)
    assert report["metrics"]["extractive"]["fallbacks"] == 0
    assert "| answer's own citations: recall | " in report["table"]
    assert model["followups"] == 1 and model["followup_rewrite_accuracy"] == 1.0
