"""Cloze questions: training questions made from documents that no evaluation asks about.

A sentence of a document becomes a question by taking out what it answers and asking for it:
"Under 2007 kom 118 personer till Solna" → "Hur många personer kom Solna 2007?" (the number
taken out, the wh-words of its kind put first, a few of the sentence's other content words kept
in their order); about a third are asked in English, their words glossed word by word from the
Swedish through Folkets lexikon ("How many persons came Solna 2007?"). The wording is rough,
but the reader's features compare words, vectors and answer kinds, and a question made like this
has one sentence known to answer it: the one it was made from. `eval/train_reader.py --cloze`
learns the reader's weights from these beside the tune half (Lewis et al., 2019, "Unsupervised
question answering by cloze translation", made the same kind of question for the same reason).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from functools import lru_cache

from assistant.answer_types import AnswerKind, answer_kind, answer_spans
from assistant.evaluate import Evidence, GoldQuestion
from assistant.ocr_repair import shows_damage
from assistant.text import is_stopword, normalise_word, sentence_spans
from assistant.translation import folkets_entries

# the wh-words of each kind, Swedish and English; and how many of the questions ask for it
KINDS = {
    "number": ("Hur många", "How many", 0.30),
    "date": ("När", "When", 0.20),
    "person": ("Vem", "Who", 0.15),
    "other": ("Vad", "What", 0.35),
}
ASKED = {"number": AnswerKind.NUMBER, "date": AnswerKind.DATE, "person": AnswerKind.PERSON,
         "other": AnswerKind.OTHER}
ENGLISH_SHARE = 1 / 3
MIN_WORDS, MAX_WORDS = 8, 40  # a sentence's words: shorter ones say too little to ask about
# a path, an address or a file name: a document's metadata, not its prose
_NOT_PROSE = re.compile(r"/|https?:|www\.|\.(?:md|txt|pdf|html?)\b|@")
KEPT_WORDS = (3, 6)  # the other content words a question keeps
_WORD = re.compile(r"[^\W_](?:[\w-]*[^\W_])?")


@lru_cache(maxsize=1)
def english_glosses() -> dict[str, str]:
    """Swedish stem → the first English gloss Folkets lexikon gives its headword."""
    glosses: dict[str, str] = {}
    for headword, text in folkets_entries():
        swedish = headword.replace("|", "").strip().lower()
        first = re.split(r"[,;/]", re.sub(r"\[[^\]]*\]|\([^)]*\)", "", text))[0].strip().lower()
        first = re.sub(r"^(to|a|an|the) ", "", first)
        if swedish.isalpha() and first and re.fullmatch(r"[a-z][a-z' -]*", first):
            glosses.setdefault(normalise_word(swedish), first)
    return glosses


def _english(word: str) -> str:
    """A Swedish word in English where the lexicon glosses its stem; names and numbers as
    they are."""
    if word[:1].isupper() or not word.isalpha():
        return word
    return english_glosses().get(normalise_word(word), word)


def _content_words(text: str, opens: bool = False) -> list[str]:
    """The words that are not stopwords; where `text` opens a sentence, its first word in lower
    case unless all capitals (a capital there says nothing of a name)."""
    found = _WORD.findall(text)
    if opens and found and not found[0].isupper():
        found[0] = found[0].lower()
    return [w for w in found if len(w) > 1 and not is_stopword(w)]


def _question(rng: random.Random, sentence: str, kind: str, span: tuple[int, int] | None,
              english: bool) -> str | None:
    swedish_wh, english_wh, _ = KINDS[kind]
    start, end = span or (0, 0)
    before = _content_words(sentence[:start], opens=True)
    after = _content_words(sentence[end:], opens=end == 0)
    # a number's noun follows it ("118 personer"): "Hur många personer …"
    head = [after.pop(0)] if kind == "number" and after and after[0].isalpha() else []
    rest = before + after
    if len(rest) < KEPT_WORDS[0]:
        return None
    keep = sorted(rng.sample(range(len(rest)), min(rng.randint(*KEPT_WORDS), len(rest))))
    words = head + [rest[i] for i in keep]
    if english:
        return f"{english_wh} {' '.join(_english(w) for w in words)}?"
    return f"{swedish_wh} {' '.join(words)}?"


def _kind_spans(sentence: str) -> dict[str, list[tuple[int, int]]]:
    spans = {kind: answer_spans(f"{wh}?", sentence) for kind, (wh, _, _) in KINDS.items()
             if kind != "other"}
    return {kind: found for kind, found in spans.items() if found} | {"other": []}


def cloze_questions(documents: Iterable[tuple[str, str]], count: int, seed: int = 0
                    ) -> list[GoldQuestion]:
    """Up to `count` questions, at most one from each document of (source, text), the kinds
    in the shares of `KINDS`."""
    rng = random.Random(seed)
    documents = list(documents)
    rng.shuffle(documents)
    wanted = {kind: round(share * count) for kind, (_, _, share) in KINDS.items()}
    out: list[GoldQuestion] = []
    for source, text in documents:
        if len(out) >= count:
            break
        sentences = [" ".join(text[s:e].split()) for s, e in sentence_spans(text)]
        sentences = [s for s in sentences if MIN_WORDS <= len(s.split()) <= MAX_WORDS
                     and not shows_damage(s) and not _NOT_PROSE.search(s)
                     and sum(c.isalpha() for c in s) > len(s) / 2]
        rng.shuffle(sentences)
        for sentence in sentences:
            by_kind = _kind_spans(sentence)
            open_kinds = [k for k in by_kind if wanted[k] > 0]
            if not open_kinds:
                continue
            # the rarer kinds first: nearly every sentence could be asked "what"
            kind = min(open_kinds, key=lambda k: (k == "other", rng.random()))
            spans = by_kind[kind]
            span = rng.choice(spans) if spans else None
            english = rng.random() < ENGLISH_SHARE
            question = _question(rng, sentence, kind, span, english)
            # the reader must read it as asking for that kind ("What municipality …" asks for
            # a place), and find it in the sentence
            if question is None or answer_kind(question) is not ASKED[kind] or (
                    span and not answer_spans(question, sentence)):
                continue
            keywords = [[sentence[span[0]:span[1]].strip()]] if span else []
            out.append(GoldQuestion(id=f"cloze-{len(out)}", question=question, answerable=True,
                                    evidence=[Evidence(source, sentence)], keywords=keywords,
                                    language="en" if english else "sv", kind=kind))
            wanted[kind] -= 1
            break
    return out
