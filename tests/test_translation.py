"""English questions over Swedish documents: the dictionary read backwards, the translations an
English question searches for, and what keyword search finds with them."""

import numpy as np
import pytest

import assistant.translation as translation
from assistant.text import normalise_word, terms
from assistant.translation import (Lexicon, LexiconError, default_lexicon, swedish_gloss,
                                  swedish_terms)


def test_english_words_find_their_swedish_headwords():
    lexicon = default_lexicon()
    assert len(lexicon.swedish) > 10_000  # Folkets lexikon, read from the svlang package
    assert "kommun" in lexicon.swedish_for("municipalities")
    assert "flykting" in lexicon.swedish_for("Refugees")
    assert "invånare" in lexicon.swedish_for("inhabitants")
    assert lexicon.swedish_for("xqzv") == ()


def test_entries_are_read_as_folkets_lexikon_writes_them():
    lexicon = Lexicon.from_entries([
        ("kommun|styrelse", "municipal executive committee"),  # a phrase: no single word
        ("möte", "meeting, (formal) session; encounter"),
        ("-vänlig", "-friendly"),  # an affix, not a word
        ("träffa", "to meet"),
        ("föräldramöte", "parents&#39; meeting"),
    ])
    assert lexicon.swedish_for("meetings") == ("möte",)  # by its singular
    assert lexicon.swedish_for("meeting") == ("möte",)
    assert lexicon.swedish_for("encountered") == ("möte",)  # no gloss as written: by its stem
    assert lexicon.swedish_for("session") == ("möte",)
    assert lexicon.swedish_for("friendly") == ()
    assert lexicon.swedish_for("committee") == ()


def test_a_gloss_as_written_wins_over_one_that_only_shares_its_stem():
    lexicon = Lexicon.from_entries([("integrering", "integration"), ("integritet", "integrity"),
                                    ("stad", "city, town"), ("möte", "meeting")])
    # the English stemmer makes "integration" and "integrity" one stem, "integr"
    assert lexicon.swedish_for("integration") == ("integrering",)
    assert lexicon.swedish_for("integrations") == ("integrering",)
    assert lexicon.swedish_for("cities") == ("stad",)
    assert lexicon.swedish_for("integrated") == ("integrering", "integritet")  # by the stem
    assert "integritet" not in default_lexicon().swedish_for("integration")


def test_only_a_headwords_first_senses_point_at_it():
    lexicon = Lexicon.from_entries([("samhälle", "community, place, society, village")])
    assert lexicon.swedish_for("society") == ("samhälle",)
    assert lexicon.swedish_for("village") == ()  # its fourth sense


def test_the_most_common_translations_the_index_holds_are_kept():
    lexicon = Lexicon.from_entries([("hotell", "hotel"), ("värdshus", "hotel; inn"),
                                    ("gästgiveri", "hotel"), ("pensionat", "hotel")])
    held = {normalise_word("hotell"): 1.0, normalise_word("pensionat"): 2.5,
            normalise_word("värdshus"): 4.0}

    def idf_of(found):  # gästgiveri is in no chunk: it gets the idf of an unseen term
        return {t: held.get(t, 9.0) for t in found}

    question = "Which hotel did they stay at?"
    assert swedish_terms(question, lexicon, idf_of, per_word=2) == \
        [normalise_word("hotell"), normalise_word("pensionat")]
    assert swedish_terms(question, lexicon, idf_of, per_word=5) == \
        [normalise_word(w) for w in ("hotell", "pensionat", "värdshus")]


def test_the_gloss_takes_each_words_most_common_translation_the_index_holds():
    lexicon = Lexicon.from_entries([("värdshus", "hotel; inn"), ("hotell", "hotel"),
                                    ("gästgiveri", "hotel"), ("stanna", "to stay"),
                                    ("flygplats", "airport")])
    held = {normalise_word("hotell"): 1.0, normalise_word("värdshus"): 4.0,
            normalise_word("stanna"): 2.0}

    def idf_of(found):  # gästgiveri and flygplats are in no chunk
        return {t: held.get(t, 9.0) for t in found}

    assert swedish_gloss("Which hotel did they stay at near the airport?", lexicon, idf_of) \
        == "hotell stanna"
    assert swedish_gloss("Which airport?", lexicon, idf_of) == ""
    assert swedish_gloss("Xqzv?", lexicon, idf_of) == ""
    # a second translation per word, the next most common one held; never one the index lacks
    assert swedish_gloss("Which hotel did they stay at near the airport?", lexicon, idf_of,
                         per_word=2) == "hotell värdshus stanna"


def test_words_that_a_gloss_joins_are_translated_as_one_compound():
    lexicon = Lexicon.from_entries([("arbetsmarknad", "labour market"), ("arbete", "labour"),
                                    ("marknad", "market"), ("socialtjänst", "social services"),
                                    ("social", "social"), ("kvinna", "woman")])
    held = {normalise_word(w): 1.0 for w in ("arbete", "marknad", "social", "kvinna")}
    compounds = {normalise_word("arbetsmarknad"): 2.0}

    def idf_of(found):  # socialtjänst is in no chunk
        return {t: held.get(t, compounds.get(t, 9.0)) for t in found}

    question = "How does a woman enter the labour market, with help from social services?"
    assert swedish_terms(question, lexicon, idf_of) == [
        normalise_word(w) for w in ("kvinna", "arbetsmarknad", "social")]
    assert swedish_gloss(question, lexicon, idf_of) == "kvinna arbetsmarknad social"
    # a hyphen joins words as a space does; the last word may be in the plural
    assert lexicon.swedish_for_phrase(["labour", "markets"]) == ("arbetsmarknad",)
    assert normalise_word("arbetsmarknad") in swedish_terms(
        "Which labour-market measures?", lexicon, idf_of)
    compounds.clear()  # where the index lacks the compound, its words are translated one by one
    assert swedish_terms(question, lexicon, idf_of) == [
        normalise_word(w) for w in ("kvinna", "arbete", "marknad", "social")]


def test_neighbouring_words_may_be_a_compound_the_index_holds():
    lexicon = Lexicon.from_entries([("studie", "study"), ("besök", "visit"),
                                    ("framgång", "success"), ("faktor", "factor"),
                                    ("stad", "city")])
    held = {normalise_word(w): 1.0 for w in ("studie", "besök", "framgång", "faktor", "stad",
                                             "studiebesök", "framgångsfaktor")}

    def idf_of(found):
        return {t: held.get(t, 9.0) for t in found}

    found = swedish_terms("Which study visits and success factors?", lexicon, idf_of)
    assert {normalise_word("studiebesök"), normalise_word("framgångsfaktor")} <= set(found)
    assert {normalise_word("studie"), normalise_word("besök")} <= set(found)  # kept beside it
    # words that the index holds no compound of stay words ("stadbesök" is in no chunk)
    assert swedish_terms("Which city visits?", lexicon, idf_of) == [
        normalise_word("stad"), normalise_word("besök")]


def test_an_english_questions_vector_leans_towards_the_swedish_text(corpus_assistant):
    snapshot = corpus_assistant.snapshot()
    retriever = corpus_assistant.retriever
    plain = type(retriever)(retriever.embedder, retriever.settings.model_copy(
        update={"gloss_weight": 0.0}))
    english = "How many refugees per year does Solna have an agreement to receive?"
    swedish_text = "Ett avtal finns med Migrationsverket om att ta emot 50-70 flyktingar/år."
    target = retriever.embedder.embed_passages([swedish_text])[0]
    glossed, own = retriever.encode_question(snapshot, english), plain.encode_question(snapshot,
                                                                                        english)
    assert abs(float(np.linalg.norm(glossed.dense)) - 1.0) < 1e-4
    assert float(glossed.dense @ target) > float(own.dense @ target)
    swedish = "Hur många flyktingar per år har Solna avtal om att ta emot?"
    assert np.array_equal(retriever.encode_question(snapshot, swedish).dense,
                          plain.encode_question(snapshot, swedish).dense)


def test_an_english_question_searches_the_swedish_text(corpus_assistant):
    snapshot = corpus_assistant.snapshot()
    retriever = corpus_assistant.retriever
    question = "How are newly arrived refugees introduced to the labour market?"
    found = retriever.search_terms(snapshot, question)
    assert {normalise_word("flykting"), normalise_word("arbetsmarknad")} <= set(found)
    assert snapshot.keyword_search(terms(question), 3) == []  # its own words are not in the text
    hits = snapshot.keyword_search(found, 3)
    chunks = snapshot.chunks([i for i, _ in hits])
    assert any("flykting" in chunk.text.lower() for chunk in chunks.values())
    swedish = "Hur introduceras nyanlända flyktingar på arbetsmarknaden?"
    assert retriever.search_terms(snapshot, swedish) == terms(swedish)
    plain = type(retriever)(retriever.embedder, retriever.settings.model_copy(
        update={"translate_english": False}))
    assert plain.search_terms(snapshot, question) == terms(question)


def test_a_missing_dictionary_is_named_with_the_package_to_install(monkeypatch):
    def missing(package):
        raise ModuleNotFoundError(f"No module named '{package}'")

    monkeypatch.setattr(translation.resources, "files", missing)
    default_lexicon.cache_clear()
    try:
        with pytest.raises(LexiconError, match="folkets_sv_en.tsv.*pip install svlang"):
            default_lexicon()
    finally:
        monkeypatch.undo()
        default_lexicon.cache_clear()


def test_the_words_of_asking_and_light_verbs_are_not_translated():
    from assistant.translation import content_words
    assert content_words("What background have participants had from the start?") == [
        "background", "participants", "start"]
