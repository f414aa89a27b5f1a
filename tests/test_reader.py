"""The extractive reader: its features, its model file, and the sentence it picks."""

import json
import sys

import pytest

from assistant.reader import (FEATURES, MODEL_PATH, ReaderModel, ReaderModelError,
                              question_names, sentence_candidates)
from assistant.records import DenseMargin, Passage


@pytest.fixture
def train_reader(monkeypatch):
    """eval/train_reader.py, imported as a module."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "eval"))
    return importlib.import_module("train_reader")


def passage(text, n=0):
    return Passage(chunk_id=n, source="a.txt", title="Vänortsmöte", text=text, page=None,
                   section=None, score=1.0)


def test_a_sentence_with_the_asked_kind_of_answer_is_marked_as_such():
    text = ("Vänortsmötet i Solna hölls i april. Arion Chryssafis hälsade deltagarna välkomna "
            "till Solna. Därefter gavs information om staden.")
    found = sentence_candidates("Vem hälsade deltagarna välkomna till Solna?", [passage(text)],
                                {}, "sv", DenseMargin())
    by_text = {c.text: c.features for c in found}
    welcome = by_text["Arion Chryssafis hälsade deltagarna välkomna till Solna."]
    assert welcome["typed_answer"] == 1.0 and welcome["untyped"] == 0.0
    # names Solna, as the question does, but no one who welcomed
    assert by_text["Vänortsmötet i Solna hölls i april."]["typed_answer"] == 0.0
    assert welcome["lexical"] > by_text["Därefter gavs information om staden."]["lexical"]


def test_repeated_sentences_of_overlapping_passages_are_read_once():
    text = ("Inom Jobbcenter arbetar man med 12 stycken jobbpakker. "
            "Man får ett kompetenskort vid genomfört pakke.")
    found = sentence_candidates("Vad gjorde Gladsaxe med jobbpakker?",
                                [passage(text, 0), passage(text, 1)], {}, "sv", DenseMargin())
    assert [c.n for c in found] == [1, 1]


def test_the_shipped_model_names_every_feature_and_a_threshold():
    model = ReaderModel.load(MODEL_PATH)
    assert set(model.weights) == set(FEATURES)
    assert 0 < model.min_confidence < 1 and 0 < model.also_quote <= 1
    trained = json.loads(MODEL_PATH.read_text("utf-8"))["trained_on"]
    assert trained["half"] == "tune"


@pytest.mark.parametrize("content, problem", [
    ("not json", "not a valid reader model"),
    ('{"weights": {}, "bias": 0, "min_confidence": 0.5, "also_quote": 0.5}', "lexical"),
    (json.dumps({"weights": {k: "NaN" for k in FEATURES}, "bias": 0, "min_confidence": 0.5,
                 "also_quote": 0.5}), "finite"),
])
def test_a_broken_model_file_is_named_with_its_problem(tmp_path, content, problem):
    path = tmp_path / "reader_model.json"
    path.write_text(content, "utf-8")
    with pytest.raises(ReaderModelError) as caught:
        ReaderModel.load(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_train_reader_can_set_the_threshold_again_and_keep_the_weights(train_reader,
                                                                     corpus_assistant, tmp_path,
                                                                     monkeypatch, capsys):
    out = tmp_path / "reader_model.json"
    out.write_text(MODEL_PATH.read_text("utf-8"), "utf-8")
    monkeypatch.setattr(sys, "argv", ["train_reader.py", "--index",
                                      str(corpus_assistant.settings.index_dir), "--keep-weights",
                                      "--out", str(out)])
    train_reader.main()
    shipped, kept = ReaderModel.load(MODEL_PATH), ReaderModel.load(out)
    assert kept.weights == shipped.weights and kept.bias == shipped.bias
    assert 0 < kept.min_confidence < 1
    record = json.loads(out.read_text("utf-8"))["trained_on"]
    assert record["threshold_set_on"]["half"] == "tune"
    assert record["threshold_set_on"]["indexes"] == 1
    assert "refuses" in capsys.readouterr().out


def test_train_reader_learns_from_cloze_questions_beside_the_tune_half(train_reader,
                                                                     corpus_assistant, tmp_path,
                                                                     monkeypatch, capsys):
    # the bundled documents stand in for the distractors' here, to keep the test short
    out = tmp_path / "reader_model.json"
    monkeypatch.setattr(sys, "argv", ["train_reader.py", "--index",
                                      str(corpus_assistant.settings.index_dir), "--cloze", "4",
                                      "--cloze-corpus", str(corpus_assistant.settings.corpus_dir),
                                      "--cloze-weight", "0.5", "--out", str(out)])
    train_reader.main()
    model = ReaderModel.load(out)
    assert 0 < model.min_confidence < 1
    record = json.loads(out.read_text("utf-8"))["trained_on"]
    assert record["weights_from"] == "tune and cloze"
    assert record["cloze_questions"] == 4 and record["cloze_asked"] == 4
    assert "cloze questions whose own sentence was read" in capsys.readouterr().out


@pytest.mark.parametrize("extra, problem", [
    ([], "--cloze needs a positive count and --cloze-corpus"),
    (["--cloze-corpus", "missing"], "missing: no such folder"),
    (["--cloze-corpus", ".", "--cloze-weight", "0"], "--cloze-weight must be above 0"),
])
def test_train_reader_wants_a_corpus_and_a_weight_to_learn_from_cloze_questions(
        train_reader, tmp_path, monkeypatch, capsys, extra, problem):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["train_reader.py", "--index", str(tmp_path / "none"),
                                      "--cloze", "10", *extra, "--out", str(tmp_path / "m.json")])
    with pytest.raises(SystemExit):
        train_reader.main()
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_the_threshold_keeps_its_margin_below_the_answerable_questions_it_must_answer(
        train_reader):
    choose_threshold = train_reader.choose_threshold
    # 40 answerable questions, 1 may be refused (3 %); near misses up to 0.58
    best = [(0.2, True)] + [(0.6 + i / 100, True) for i in range(39)]
    best += [(0.1, False), (0.3, False), (0.58, False)]
    plain = choose_threshold(best, 0.03)
    assert plain == pytest.approx((0.58 + 0.6) / 2)
    # with a margin, the 0.58 near miss is let through: refusing it would put the threshold
    # 0.01 below the answerable question at 0.6
    kept = choose_threshold(best, 0.03, margin=0.02)
    assert kept == pytest.approx((0.3 + 0.58) / 2)
    assert all(p - 0.02 >= kept for p, ok in best if ok and p >= 0.6)


def test_train_reader_refuses_a_bad_model_file_before_asking_anything(train_reader, tmp_path,
                                                                      monkeypatch, capsys):
    bad = tmp_path / "reader_model.json"
    bad.write_text('{"weights": {}}', "utf-8")
    monkeypatch.setattr(sys, "argv", ["train_reader.py", "--index", str(tmp_path / "none"),
                                      "--keep-weights", "--out", str(bad)])
    with pytest.raises(SystemExit):
        train_reader.main()
    assert "not a valid reader model" in capsys.readouterr().err
    assert bad.read_text("utf-8") == '{"weights": {}}'


def test_train_reader_refuses_a_negative_margin(train_reader, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train_reader.py", "--index", str(tmp_path / "none"),
                                      "--margin", "-0.1", "--out", str(tmp_path / "m.json")])
    with pytest.raises(SystemExit):
        train_reader.main()
    assert "--margin must be at least 0" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_a_sentence_knows_whether_the_names_asked_about_stand_near_it():
    text = ("Ski Ski kommune har många flyktingar. Det är en stor förändring på gång. "
            "Pirkkala Pirkkala har 15 639 invånare. Kommunen växer snabbt.")
    found = sentence_candidates("Hur många invånare har Ski?", [passage(text)], {}, "sv",
                                DenseMargin())
    nearby = {c.text: c.names_nearby for c in found}
    assert nearby["Det är en stor förändring på gång."]  # Ski is named just before it
    assert not nearby["Kommunen växer snabbt."]  # three sentences after Ski, about Pirkkala


def test_a_name_is_found_as_the_part_of_a_compound_or_of_a_hyphenated_word():
    programme = ("Resan planeras av stadsledningskontoret. Torontoresan pågår i en vecka. "
                 "Eurocities startade ett projekt (DIVE). Projektet finansieras av en fond.")
    for question, sentence in [("Vem planerar resan till Toronto?",
                                "Resan planeras av stadsledningskontoret."),
                               ("Vilken fond finansierar DIVE-projektet?",
                                "Projektet finansieras av en fond.")]:
        found = sentence_candidates(question, [passage(programme)], {}, "sv", DenseMargin())
        assert {c.text: c.names_nearby for c in found}[sentence], question
    assert question_names("Vilken fond finansierar DIVE-projektet?") == [[{"div", "projektet"}]]
    # too short a name is no compound's part: "Ski" does not open "skiftet"
    found = sentence_candidates("Vem leder Ski?", [passage("Under skiftet leder Eva Berg det.")],
                                {}, "sv", DenseMargin())
    assert not any(c.names_nearby for c in found)


def test_an_english_questions_names_are_also_found_in_swedish():
    assert question_names("Who works in Gothenburg?", "en") == [[{"gothenburg"}, {"goteborg"}]]
    # Swedish writes an adjective of nationality in lower case: "Norwegian" names nothing
    assert question_names("Which Norwegian reform is it?", "en") == []
    found = sentence_candidates("Who leads the project in Gothenburg?",
                                [passage("Projektet i Göteborg leds av Eva Berg.")], {}, "en",
                                DenseMargin())
    assert found and all(c.names_nearby for c in found)


def test_a_name_is_in_reach_where_the_passages_document_bears_it():
    slides = Passage(chunk_id=0, source="esf-vaxtkraft-2006.txt", title="Lärdomar från Växtkraft",
                     text="Frontlinjebyråkraterna är integrationspolitikens grindvakter.",
                     page=None, section=None, score=1.0, organisation="Länsstyrelsen")
    for question in ("Who are the gate-keepers according to the ESF presentation?",
                     "Vem är grindvakter enligt Länsstyrelsen?",
                     "Vem är grindvakter enligt Växtkraft?"):
        found = sentence_candidates(question, [slides], {}, "sv", DenseMargin())
        assert [(c.names_nearby, c.names_in_reach) for c in found] == [(False, True)], question
    found = sentence_candidates("Vem är grindvakter i Malmö?", [slides], {}, "sv", DenseMargin())
    assert not found[0].names_in_reach


def test_a_sentence_knows_whether_its_passage_names_the_role_asked_about():
    mayor = passage("Mötet öppnades av borgmästaren Karin Holst. Hon talade om jobbpakker.", 0)
    other = passage("Gladsaxe är en av sex modellkommuner. Ebbe Holm leder arbetet där.", 1)
    for question, language in [("Vem är borgmästare i Gladsaxe?", "sv"),
                               ("Who is the mayor of Gladsaxe?", "en")]:
        found = sentence_candidates(question, [mayor, other], {}, language, DenseMargin())
        named = {c.text: c.role_named for c in found}
        assert named["Mötet öppnades av borgmästaren Karin Holst."]
        assert not named["Ebbe Holm leder arbetet där."]
    # a compound names its last part; a question about no role passes every sentence
    head = passage("Förslaget undertecknades av avdelningschef Eva Jurdell i Stockholm.")
    found = sentence_candidates("Who is the head of department on the proposal?", [head], {},
                                "en", DenseMargin())
    assert all(c.role_named for c in found)
    found = sentence_candidates("Vem leder arbetet i Gladsaxe?", [other], {}, "sv", DenseMargin())
    assert all(c.role_named for c in found)


def test_a_compound_naming_the_role_as_asked_is_told_from_another_heads_title():
    # "head of department": the department's head (avdelningschef), not a unit's (enhetschef)
    heads = passage("Konferensen besöks av Anna Mattsson, enhetschef på Europaforum. "
                    "Förslaget undertecknades av avdelningschef Eva Jurdell i Stockholm.")
    for question, language in [("Which head of department signed the proposal?", "en"),
                               ("Vem är chef för avdelningen som undertecknade förslaget?", "sv")]:
        unit, department = sentence_candidates(question, [heads], {}, language, DenseMargin())
        assert unit.names_the_role and department.names_the_role
        assert department.names_the_role_as_asked and not unit.names_the_role_as_asked
