"""Extractive answers with verified citations, on the real model and index."""

import re

from assistant.citations import split_cited_sentences, verify
from assistant.records import DenseMargin, Passage
from assistant.render import answer_json
from assistant.retrieval import dense_margin

GLADSAXE = "vanorter-gladsaxe-pirkkala-ski-solna-2008.txt"


def cited_sources(answer):
    return {c.passage.source for c in answer.citations if c.passage is not None}


def test_gladsaxe_jobbpakker_in_swedish(corpus_assistant):
    answer = corpus_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    assert not answer.abstained
    assert "12 stycken jobbpakker" in answer.text
    evidence = [c for c in answer.citations if "12 stycken jobbpakker" in c.passage.text]
    assert evidence and all(c.passage.source == GLADSAXE and c.supported for c in evidence)
    assert answer.language == "sv"


def test_english_question_cites_the_same_evidence(corpus_assistant):
    sv = corpus_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    en = corpus_assistant.ask("What did Gladsaxe do with jobbpakker?")
    assert en.language == "en" and not en.abstained
    # neighbouring chunks overlap, so the same sentence may be quoted from either of two
    sv_quotes = {c.sentence for c in sv.citations if "jobbpakker" in c.sentence and c.supported}
    en_quotes = {c.sentence for c in en.citations if "jobbpakker" in c.sentence and c.supported}
    assert sv_quotes & en_quotes
    assert {c.passage.source for c in en.citations if c.sentence in sv_quotes} == {GLADSAXE}


def test_ocr_damaged_documents_answer_correctly_spelled_questions(corpus_assistant):
    answer = corpus_assistant.ask("Hur mycket ökade valdeltagandet i Rinkeby i valet 2014?")
    assert "5,8" in answer.text
    answer = corpus_assistant.ask("Hur många läxläsningsgrupper finns i Rinkeby?")
    assert not answer.abstained
    assert any("lixldsningsgrupper" in p.text for p in answer.passages)


def test_unanswerable_questions_abstain(corpus_assistant):
    for question, phrase in [
        ("Vad kostar ett månadskort för buss i Göteborg?", "Dokumenten besvarar inte"),
        ("What is the capital of Australia?", "The documents do not answer"),
        ("Vilket parti vann riksdagsvalet 2022?", "Dokumenten besvarar inte"),
    ]:
        answer = corpus_assistant.ask(question)
        assert answer.abstained, (question, answer.text)
        assert answer.text.startswith(phrase)
        assert answer.citations == [] and "[" not in answer.text


def test_every_marker_refers_to_a_shown_passage(corpus_assistant):
    for question in ["Hur många invånare har Pirkkala?", "Vilka krav ställs på framtida projekt?",
                     "Who will represent Stockholm and sign the Eurocities declaration?"]:
        answer = corpus_assistant.ask(question)
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
        assert numbers
        assert all(1 <= n <= len(answer.passages) for n in numbers)
        assert {c.n for c in answer.citations} == set(numbers)
        for c in answer.citations:
            assert c.passage is answer.passages[c.n - 1]
            assert c.quote and c.quote in " ".join(c.passage.text.split())


def _passage(text, source="a.txt"):
    return Passage(chunk_id=0, source=source, title="T", text=text, page=None, section=None,
                   score=1.0)


def test_support_is_computed_not_assumed():
    passages = [_passage("Pirkkala har 15 639 invånare och växer snabbt."),
                _passage("Solna tar emot 50-70 flyktingar per år.", "b.txt")]
    citations = verify("Pirkkala har 15 639 invånare. [1] Pirkkala har 15 639 invånare. [2] "
                       "Något annat. [7]", passages, min_support=0.5)
    assert [(c.n, c.supported) for c in citations] == [(1, True), (2, False), (7, False)]
    assert citations[2].passage is None
    assert citations[0].quote == "Pirkkala har 15 639 invånare och växer snabbt."


def test_markers_are_parsed_in_their_usual_forms():
    assert split_cited_sentences("A sats här. [1] B sats [2, 3]. C sats [4][5]") == [
        ("A sats här.", [1]), ("B sats.", [2, 3]), ("C sats", [4, 5])]


def test_dense_margin_in_standard_deviations_keeps_its_scale():
    # the same profile, once spread wide (a small index) and once packed tight (a large one):
    # the cosine gap shrinks with the packing, the gap in standard deviations does not
    tail = [0.80, 0.79, 0.78, 0.77, 0.76] * 8
    wide = dense_margin([0.90] + [0.85] * 9 + tail)
    packed = dense_margin([0.85] + [0.825] * 9 + [0.8 + (t - 0.8) / 2 for t in tail])
    assert packed.gap < wide.gap
    assert abs(packed.in_sd - wide.in_sd) < 1e-6
    assert dense_margin([]) == DenseMargin()


def test_the_readers_confidence_decides_whether_to_answer(corpus_assistant):
    retrieval = corpus_assistant.retrieve("Vad gjorde Gladsaxe med jobbpakker?")
    args = (retrieval.question, retrieval.passages, retrieval.idf, retrieval.query_vector,
            retrieval.dense_margin)
    answerer = corpus_assistant.answerer
    confident = answerer.answer(*args)
    assert not confident.abstained and "12" in confident.text
    best = max(c.probability for c in answerer.read(*args, "sv"))
    assert best >= answerer.model.min_confidence
    stricter = answerer.settings.model_copy(update={"min_reader_confidence": min(best + 0.01, 1)})
    assert type(answerer)(answerer.embedder, stricter).answer(*args).abstained


def test_the_sentence_after_one_that_restates_the_question_is_quoted_too(corpus_assistant):
    # the report restates what was asked in one sentence and answers it in the next
    question = "Why did the selected projects sometimes not reach all the way?"
    retrieval = corpus_assistant.retrieve(question)
    args = (retrieval.question, retrieval.passages, retrieval.idf, retrieval.query_vector,
            retrieval.dense_margin)
    answerer = corpus_assistant.answerer
    answer = answerer.answer(*args)
    assert "inte nått ända fram. [1] Målgruppen är svår och tiden har varit för kort. [1]" \
        in answer.text
    assert all(c.supported for c in answer.citations)
    alone = answerer.settings.model_copy(update={"quote_following_sentence": False})
    assert "Målgruppen är svår" not in type(answerer)(answerer.embedder, alone).answer(*args).text


def test_a_sentence_holding_the_asked_for_number_is_quoted_without_its_neighbour(
        corpus_assistant):
    retrieval = corpus_assistant.retrieve("Hur många invånare har Pirkkala?")
    args = (retrieval.question, retrieval.passages, retrieval.idf, retrieval.query_vector,
            retrieval.dense_margin)
    answerer = corpus_assistant.answerer
    answer = answerer.answer(*args)
    assert answer.text.startswith("Pirkkala Pirkkala har 15 639 invånare")
    alone = answerer.settings.model_copy(update={"quote_following_sentence": False})
    assert type(answerer)(answerer.embedder, alone).answer(*args).text == answer.text


def test_a_question_asking_for_a_number_or_date_is_as_sure_as_its_best_sentence_holding_one():
    from assistant.answering import confidence
    from assistant.reader import SentenceCandidate

    def sentence(text, probability, typed, names_nearby=True, numbers_missing=0.0):
        return SentenceCandidate(n=1, text=text, read_as=text, probability=probability,
                                 names_nearby=names_nearby,
                                 features={"typed_answer": float(typed),
                                           "missing_numbers": numbers_missing})

    restating = sentence("Open Lab är stadens samverkansprojekt.", 0.9, typed=False)
    dated = sentence("Open Lab startade 2012.", 0.4, typed=True)
    assert confidence("Vilket år startade Open Lab?", [restating, dated]) == 0.4
    assert confidence("Vilket år startade Open Lab?", [restating]) == 0.0
    # a year in a passage about something else
    elsewhere = sentence("Projektet startade 2009.", 0.8, typed=True, names_nearby=False)
    assert confidence("Vilket år startade Open Lab?", [elsewhere, dated]) == 0.4
    # names are found less reliably: any sentence may answer who, where or what
    assert confidence("Vad är Open Lab?", [restating, dated]) == 0.9
    assert confidence("Vem leder Open Lab?", [restating, dated]) == 0.9
    # though not from a sentence far from what the question names, nor from its document
    elsewhere.names_in_reach = False
    assert confidence("Vem leder Open Lab?", [elsewhere, dated]) == 0.4
    assert confidence("Vad hände i Open Lab?", [elsewhere, dated]) == 0.8
    # a question naming a year is not answered from a passage without it, whatever it asks
    other_year = sentence("Open Lab leddes 2014 av staden.", 0.9, typed=True, numbers_missing=1.0)
    assert confidence("Vem ledde Open Lab 2018?", [other_year]) == 0.0
    # nor one asking who holds a role, or where a venue is, from a passage not naming it
    unnamed_role = sentence("Open Lab leds av Eva Berg.", 0.9, typed=True)
    unnamed_role.role_named = False
    assert confidence("Vem är ordförande för Open Lab?", [unnamed_role, dated]) == 0.4
    # a person's title only from a sentence writing one beside their name
    titled = sentence("Eva Berg, verksamhetschef för Open Lab.", 0.3, typed=True)
    assert confidence("Vilken roll har Eva Berg?", [restating, titled]) == 0.3
    assert confidence("Vilken roll har Eva Berg?", [restating]) == 0.0


def test_a_question_about_a_role_is_answered_from_a_passage_naming_it(corpus_assistant):
    answer = corpus_assistant.ask("Vem är kontaktperson för studiebesöken i Toronto?")
    assert "Kajsa Rosén" in answer.text
    assert all("kontaktperson" in c.passage.text.lower() or
               "kontaktperson" in (c.passage.section or "").lower() for c in answer.citations)


def test_a_question_about_a_persons_title_is_answered_by_the_title_beside_the_name(
        corpus_assistant):
    answer = corpus_assistant.ask("Vilken roll har Yvonne Svensson i Solna stad?")
    marked = [a["text"] for c in answer_json(answer)["citations"] for a in c["answer_in_quote"]]
    assert marked == ["verksamhetschef"], answer.text
    # the report's title page names the speaker but no title of his
    assert corpus_assistant.ask("What is Tomas Stavbom's job title at the ESF Council?").abstained
    # a contact listed under the heading "KONTAKTPERSONER"
    answer = corpus_assistant.ask("What is Karin Francke's role?")
    assert not answer.abstained and answer.text.startswith("För arrangemanget i sin helhet: Karin")


def test_a_sentence_naming_the_role_beside_a_name_answers_who_holds_it(corpus_assistant):
    # other sentences of the passages name people too, and share more of the question's words
    answer = corpus_assistant.ask("Which head of department signed the proposal on the "
                                  "Eurocities charter?")
    assert answer.text.startswith("Fredrik Jurdell Avdelningschef")
