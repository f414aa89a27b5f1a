"""The answer inside the quote: the kind of answer a question asks for, where it stands in the
quoted sentence, and how the terminal, the JSON and the UI's Markdown mark it."""

import pytest

from assistant.answer_types import (AnswerKind, Measure, answer_kind, answer_spans, asked_role,
                                    first_names, mark, measure, titled_by_heading)
from assistant.records import Answer, Citation, Passage
from assistant.render import answer_json, answer_markdown, answer_text, highlighted_passage


@pytest.mark.parametrize("question, kind", [
    ("Hur många jobbpakker finns det?", AnswerKind.NUMBER),
    ("How many participants were there?", AnswerKind.NUMBER),
    ("Hur många år varade projektet?", AnswerKind.NUMBER),
    ("När startade projektet?", AnswerKind.DATE),
    ("What year did the trip take place?", AnswerKind.DATE),
    ("Vem ledde studieresan?", AnswerKind.PERSON),
    ("Who wrote the report?", AnswerKind.PERSON),
    ("Var ligger Pirkkala?", AnswerKind.PLACE),
    ("Which cities did the delegation visit?", AnswerKind.PLACE),
    ("Vilken myndighet ansvarar för SFI?", AnswerKind.ORGANISATION),
    ("Vad var syftet med resan?", AnswerKind.OTHER),  # "var" is "was" here, not "where"
    ("Vad gjorde Gladsaxe med jobbpakker?", AnswerKind.OTHER),
    # the noun a which-question asks about
    ("Under vilken borgmästare startade programmet?", AnswerKind.PERSON),
    ("Which mayor opened the conference?", AnswerKind.PERSON),
    ("I vilken lokal hålls mötet?", AnswerKind.PLACE),
    ("Vilket land tog emot flest?", AnswerKind.PLACE),
    ("At which hotel did they stay?", AnswerKind.PLACE),
    ("Which company runs the courses?", AnswerKind.ORGANISATION),
    ("Vilken fond betalar projektet?", AnswerKind.ORGANISATION),
    ("Vilket telefonnummer har samordnaren?", AnswerKind.NUMBER),
    # "what is the …" and "vad heter …" ask about their noun as a which-question does
    ("What is the capital of Finland?", AnswerKind.PLACE),
    ("Vad är huvudstaden i Finland?", AnswerKind.PLACE),
    ("What is the name of the football club?", AnswerKind.ORGANISATION),
    ("Vad heter klubben som ordnar träningen?", AnswerKind.ORGANISATION),
    ("What was the name of the mayor?", AnswerKind.PERSON),
    ("What should cities do as employers?", AnswerKind.OTHER),
    ("Vad är kommunens ansvar?", AnswerKind.OTHER),
    # the first cue wins; "när", "when" and "who" inside a question join clauses
    ("Where do families who arrive in spring move on to?", AnswerKind.PLACE),
    ("What help does a person who asks the municipality get?", AnswerKind.OTHER),
    ("Vad händer med stödet när reformen genomförs?", AnswerKind.OTHER),
    ("What changes when the reform comes into force?", AnswerKind.OTHER),
    ("To whom should the application be sent?", AnswerKind.PERSON),
    # a named person's title or role
    ("What is Tomas Stavbom's job title?", AnswerKind.TITLE),
    ("Vilken roll har Yvonne Svensson i Solna stad?", AnswerKind.TITLE),
    ("Vad har Fredrik Jurdell för titel?", AnswerKind.TITLE),
    ("Vad arbetar Ulla som?", AnswerKind.TITLE),
    ("Who is Ulf Kristersson?", AnswerKind.TITLE),
    ("Vem är Ulf Kristersson i Stockholm?", AnswerKind.TITLE),
    # the role of a thing or an organisation is no title; nor the person holding a role
    ("What role do mentors play in the programmes?", AnswerKind.OTHER),
    ("Vilken roll har Arbetsförmedlingen i etableringen?", AnswerKind.OTHER),
    ("What is Region Stockholm's role?", AnswerKind.OTHER),
    ("Who is the mayor of Gladsaxe?", AnswerKind.PERSON),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert answer_kind(question) is kind


def _marked(question, sentence):
    return [sentence[a:b] for a, b in answer_spans(question, sentence)]


def test_a_person_is_a_run_of_names_that_could_be_ones_name():
    sentence = ("Målgruppen i Coros Immigrant Civic Leadership Program leds av Bill de Blasio "
                "och Anette Lindén.")
    assert _marked("Vem leder målgruppen?", sentence) == ["Bill de Blasio", "Anette Lindén"]


def test_a_title_is_the_one_written_beside_the_person_asked_about():
    listing = ("Deltagare Ebbe Holm, arbetsmarknadschef i Gladsaxe kommune Anna-Leena Salokorpi, "
               "verksamhetschef ungdomsenheten i Pirkkala Oskari Auvinen, socialdirektör i Pirkkala")
    assert _marked("What is Oskari Auvinen's role?", listing) == ["socialdirektör"]
    assert _marked("Vilken titel har Ebbe Holm?", listing) == ["arbetsmarknadschef"]
    # written before the name, and scanned without its dots
    scanned = "Socialborgarradet Ulf Kristersson kommer att representera Stockholms stad."
    assert _marked("Who is Ulf Kristersson?", scanned) == ["Socialborgarradet"]
    # a sentence not naming the person answers nothing, nor one naming no title beside them
    assert _marked("What is Tomas Stavbom's job title?", listing) == []
    assert _marked("What is Tomas Stavbom's job title?",
                   "ESF-rådet, 2 november 2006 Tomas Stavbom") == []
    # or the heading the name stands under
    contact = "För studiebesöken: Kajsa Rosén, Ramböll Management, tfn 562 49 464"
    assert titled_by_heading("Vilken roll har Kajsa Rosén?", contact, ["", "KONTAKTPERSONER"])
    assert not titled_by_heading("Vilken roll har Kajsa Rosén?", contact, ["", "PROGRAM"])
    assert not titled_by_heading("Vilken roll har Karin Francke?", contact, ["KONTAKTPERSONER"])
    # an English title only as it stands
    assert _marked("Who is Eva Berg?", "Eva Berg looked ahead; Eva Berg, head of unit.") == \
        ["head"]


def test_the_asked_for_number_date_and_name_are_found():
    sentence = "Inom Jobbcenter arbetar man med 12 stycken jobbpakker där språkutbildning ingår."
    assert _marked("Hur många jobbpakker arbetar man med?", sentence) == ["12 stycken"]
    assert _marked("How many job packages are there?", sentence) == ["12 stycken"]
    assert _marked("När startade projektet?", "Projektet startade i mars 2008 i Solna.") == \
        ["mars 2008"]
    assert _marked("Vem ledde resan?", "Resan leddes av Anna Svensson från Stockholms stad.") == \
        ["Anna Svensson"]
    assert _marked("Vilka städer besökte de?", "Delegationen besökte Toronto och Ottawa.") == \
        ["Toronto", "Ottawa"]


def test_a_weekday_or_a_clock_time_answers_when():
    question = "När erbjuds samhällsorientering på dari?"
    assert _marked(question, "Den erbjuds varje onsdag, kl 18-20.") == ["onsdag", "kl 18-20"]
    assert _marked(question, "Träningen hålls på torsdagskvällarna.") == ["torsdagskvällarna"]
    assert _marked("What time does the flight leave?", "Avresa 12.45 från Arlanda.") == ["12.45"]
    assert _marked("Hur många deltog?", "Mötet kl 10.30 hade 45 deltagare.") == ["45 deltagare"]


def test_what_only_repeats_the_question_is_not_the_answer():
    sentence = "År 2008 deltog 45 personer i Pirkkala."
    assert _marked("Hur många deltog i Pirkkala 2008?", sentence) == ["45 personer"]
    assert _marked("Var ligger Pirkkala?", "Pirkkala ligger nära Tammerfors i Finland.") == \
        ["Tammerfors", "Finland"]
    assert _marked("Vad gjorde Gladsaxe?", "Gladsaxe införde 12 jobbpakker.") == []


def test_a_country_is_no_answer_to_which_organisation():
    sentence = "Jag vill tacka riksdagens partier för samarbetet under en svår tid för Sverige."
    assert _marked("Vilket parti vann valet?", sentence) == []
    assert _marked("Which party won the election?",
                   "The election in Sweden was won by the Social Democrats.") == \
        ["Social Democrats"]
    # a union CLDR lists among its territories still answers, and a country answers where
    assert _marked("Vilken organisation finansierade projektet?",
                   "Projektet finansierades av Förenta Nationerna.") == ["Förenta Nationerna"]
    assert _marked("Vilket land besökte de?", "Delegationen besökte Kanada i maj.") == ["Kanada"]


def test_a_first_name_standing_alone_answers_who():
    question = "Who starts writing the description?"
    assert _marked(question, "Att göra: Beskriva idén (Ulla börjar skriva men alla deltar)") \
        == ["Ulla"]
    assert _marked("Vem ska ringa?", "Enligt planen ringer Oskari och Mette till kommunen.") == \
        ["Oskari", "Mette"]  # Finnish and Danish names too
    assert _marked(question, "Sedan skrev Ulla Johansson texten.") == ["Ulla Johansson"]
    # at a sentence's start a capital says nothing; a name that is also a word is the word
    assert _marked(question, "Ulla börjar skriva.") == []
    assert _marked(question, "Boken är Hans och Inga kan läsa den.") == []
    assert "Ulla" in first_names() and "Hans" not in first_names()


@pytest.mark.parametrize("question, asked", [
    ("Hur stor budget hade projektet?", Measure.MONEY),
    ("Vad kostar kursen?", Measure.MONEY),
    ("Vad kostar det att bygga ut kursen?", Measure.MONEY),
    ("Vad gjorde staden med budgeten?", None),  # not a how-much question
    ("Hur mycket kostar ett månadskort?", Measure.MONEY),
    ("How much is the housing allowance?", Measure.MONEY),
    ("Hur hög är arbetslösheten bland invandrare?", Measure.PERCENT),
    ("How large a share of the participants found work?", Measure.PERCENT),
    ("Hur många invånare har Pirkkala?", Measure.POPULATION),
    ("How many inhabitants does Ski have?", Measure.POPULATION),
    ("Hur många deltagare var det?", None),
    ("Hur länge ska mentorn stödja deltagaren?", Measure.DURATION),
    ("Hur lång är väntetiden till SFI?", Measure.DURATION),
    ("How long does the programme last?", Measure.DURATION),
    ("Hur många arbetar deltid?", None),
])
def test_the_measure_a_how_much_question_asks_for(question, asked):
    assert measure(question) is asked


def test_a_measured_question_is_answered_only_by_a_number_of_its_measure():
    budget = "Hur stor budget hade projektet?"
    assert _marked(budget, "Mötet hölls 3-4 april 2008 med 45 deltagare.") == []
    amounts = "Projektet fick 12 miljoner kronor, 4,5 mnkr från ESF och € 200 000."
    assert _marked(budget, amounts) == ["12 miljoner kronor", "4,5 mnkr", "€ 200 000"]
    # this year's amount and last year's in brackets, as reports write them
    assert _marked(budget, "Uppdrag 150 (335) miljoner kronor till 89 projekt") == \
        ["150 (335) miljoner kronor"]
    assert _marked("Hur hög är arbetslösheten?", "Av 2 000 sökande saknar 14,5 % arbete.") == \
        ["14,5 %"]
    assert _marked("How many inhabitants does Pirkkala have?",
                   "Pirkkala har 15 639 invånare och ligger 12 km från Tammerfors.") == \
        ["15 639 invånare"]


def test_a_how_long_question_is_answered_by_a_duration():
    question = "Hur länge pågår utbildningen?"
    assert _marked(question, "Utbildningen är ettårig, 14 tillfällen.") == ["ettårig"]
    assert _marked(question, "Den ges under två terminer, i en treårsperiod.") == \
        ["två terminer", "treårsperiod"]
    assert _marked(question, "Staden tar emot 50-70 flyktingar/år.") == []


def test_a_date_or_a_path_holds_no_count():
    question = "How many refugees did the city receive?"
    assert _marked(question, "Mötet 3-4 april 2008 (se /artiklar/2015/09/mote.md)") == []
    assert _marked(question, "Staden tog emot 2000 personer år 2016.") == ["2000 personer"]
    assert _marked(question, "Enligt lagen (1960:729) § 9 och kl. 10:30 gäller det.") == []
    assert _marked(question, "Det kom 45 personer: 12 till Solna.") == ["45 personer", "12"]


def test_mark_wraps_each_span():
    assert mark("a 12 b 3", [(2, 4), (7, 8)], "[", "]") == "a [12] b [3]"


def _answer(text, quote, spans, abstained=False):
    passage = Passage(chunk_id=1, source="g.txt", title="Gladsaxe", text=f"Inledning. {quote}",
                      page=None, section=None, score=1.0)
    citation = Citation(n=1, sentence=quote, supported=True, support=1.0, passage=passage,
                        quote=quote, answer_spans=spans)
    return Answer(question="Hur många?", text=text, abstained=abstained, passages=[passage],
                  citations=[citation], language="sv")


def test_the_terminal_json_and_markdown_mark_the_answer():
    quote = "Man arbetar med 12 stycken *jobbpakker*."
    answer = _answer(f"{quote} [1]", quote, [(16, 26)])
    text = answer_text(answer, emphasis=("<", ">"))
    assert "Man arbetar med <12 stycken> *jobbpakker*. [1]" in text
    assert "“Man arbetar med <12 stycken> *jobbpakker*.”" in text
    assert answer_json(answer)["citations"][0]["answer_in_quote"] == \
        [{"start": 16, "end": 26, "text": "12 stycken"}]
    markdown = answer_markdown(answer)
    assert "**12 stycken**" in markdown and "\\*jobbpakker\\*" in markdown
    assert "**[1]**" in markdown
    shown = highlighted_passage(answer.passages[0].text, [quote], {quote: [(16, 26)]})
    assert ":orange-background[Man arbetar med **12 stycken** \\*jobbpakker\\*\\.]" in shown


def test_the_pipeline_marks_the_answer_in_its_quotes(corpus_assistant):
    answer = corpus_assistant.ask("Hur många jobbpakker arbetar Jobbcenter i Gladsaxe med?")
    marked = [a["text"] for c in answer_json(answer)["citations"] for a in c["answer_in_quote"]]
    assert any("12" in m for m in marked), answer.text


@pytest.mark.parametrize("question, role", [
    ("Who is the mayor of Gladsaxe?", "borgmästare"),
    ("På vilket hotell bor delegationen i London?", "hotel"),
    ("Vilken ambassadör medverkar på seminariet?", "ambassador"),
    ("Vem är kontaktperson för resan?", "contact"),
    ("What is the capital of Australia?", "huvudstad"),
    ("Which room is the seminar held in?", "lokal"),  # a venue: the room, the hall, the "lokal"
    ("Vilken stad besöktes först?", None),  # a city is named alone, not as "staden Toronto"
    ("Which company does the contact person work for?", None),
    ("Vem leder Open Lab?", None),
])
def test_the_role_or_venue_a_question_asks_about(question, role):
    assert (role in asked_role(question)) if role else asked_role(question) == ()
