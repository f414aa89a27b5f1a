from assistant.text import detect_language, normalise_word, sentences, terms


def test_ocr_damaged_and_correct_spelling_meet():
    assert normalise_word("forutséttningar") == normalise_word("förutsättningar")
    assert normalise_word("omrédden") != ""
    assert terms("1 Rinkeby") == ["rinkeby"]
    assert normalise_word("6kade") == normalise_word("ökade")


def test_terms_drop_stopwords_in_both_languages():
    assert terms("Vad gjorde Gladsaxe med jobbpakker?") == [normalise_word("gladsaxe"),
                                                            normalise_word("jobbpakker")]
    assert terms("What did Gladsaxe do with the jobbpakker?") == terms("Vad gjorde Gladsaxe med jobbpakker?")


def test_a_content_word_whose_stem_is_a_short_stopwords_is_kept():
    # möte, månad and åtta stem to mot, man and att; the stopwords themselves still go
    assert terms("mötet varje månad med åtta deltagare") == [
        normalise_word(w) for w in ("mötet", "månad", "åtta", "deltagare")]
    assert terms("mot man att för som") == []
    # a longer stopword's inflections go with it (sägs: säger, görs: gör)
    assert terms("hon säger att de gör det") == []


def test_hyphenated_compound_counts_whole_and_as_parts():
    found = terms("Vilka städer var med i DIVE-projektet?")
    assert normalise_word("dive") in found
    assert normalise_word("projektet") in found
    assert normalise_word("dive-projektet") in found
    assert terms("ESF-rådet") == [normalise_word("esf-rådet"), "esf", normalise_word("rådet")]


def test_language_of_questions():
    assert detect_language("Vad gjorde Gladsaxe med jobbpakker?") == "sv"
    assert detect_language("What did Gladsaxe do with jobbpakker?") == "en"
    assert detect_language("Hur många invånare har Pirkkala?") == "sv"


def test_sentences_join_wrapped_lines_and_respect_abbreviations():
    text = "Detta är en mening som\nfortsätter på nästa rad. Sedan t.ex. en till.\n\n* En punkt"
    assert sentences(text) == [
        "Detta är en mening som fortsätter på nästa rad.",
        "Sedan t.ex. en till.",
        "* En punkt",
    ]
