"""What kind of answer a question asks for, and where an answer of that kind stands in a quoted
sentence: the number, date, person, place or organisation, so that it can be marked.

Swedish and English wordings. A span that only repeats the question (the place a question names,
the year it asks about) is not the answer and is not marked.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache

from .text import terms


class AnswerKind(str, Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    ORGANISATION = "organisation"
    OTHER = "other"


_FLAGS = re.IGNORECASE
_WHICH = r"(?:vilken|vilket|vilka|which|what)"
# the noun a which-question asks about tells the kind: "vilken borgmästare", "which company"
_PERSON_NOUNS = (
    "person|personer|ambassadör|ambassadören|borgmästare|borgmästaren|chef|chefen|ordförande|"
    "minister|ministern|ledare|kontaktperson|handläggare|samordnare|politiker|tjänsteman|"
    "tjänstemän|talare|föreläsare|grundare|direktör|generaldirektör|rektor|kommunalråd|"
    "borgarråd|people|mayor|ambassador|head|chair|chairman|chairperson|leader|"
    "leaders|contact|official|officials|director|speaker|speakers|author|founder|coordinator|"
    "politician|politicians|commissioner")
_PLACE_NOUNS = (
    "stad|städer|kommun|kommuner|ort|orter|plats|platser|land|länder|region|regioner|lokal|"
    "lokaler|hotell|byggnad|stadsdel|stadsdelar|län|city|cities|municipality|municipalities|"
    "town|towns|country|countries|place|places|regions|venue|venues|hotel|building|"
    "district|districts|neighbourhood|neighborhood|county|room|hall")
_ORGANISATION_NOUNS = (
    "organisation|organisationer|myndighet|myndigheter|förening|föreningar|aktör|aktörer|"
    "arbetsgivare|företag|fond|fonden|enhet|enheter|förvaltning|förvaltningar|avdelning|"
    "universitet|högskola|högskolor|parti|partier|nätverk|stiftelse|institut|organization|"
    "organisations|organizations|agency|agencies|authority|authorities|"
    "association|associations|employer|employers|company|companies|firm|firms|fund|funds|"
    "unit|department|university|universities|college|colleges|party|parties|network|"
    "networks|foundation|institute|institution|institutions")
# the kind whose cue comes first wins: "hur många år" asks for a number, "vilket år" for a
# date, and "where do refugees who settle …" for a place; "när"/"when"/"who" ask only where
# they open the question (inside it they join clauses: "what happens when …")
_QUESTION_KINDS = [
    (AnswerKind.NUMBER, re.compile(
        r"\b(hur (många|mycket|stor|stora|lång|långa|länge|ofta|gammal|gamla)|how (many|much|"
        r"large|long|big|often|old)|antal(et)?|vilken andel|hur stor andel|what (share|"
        r"percentage|proportion|number)|vilket (telefon)?nummer|(what|which) (phone |telephone )?"
        r"number)\b", _FLAGS)),
    (AnswerKind.DATE, re.compile(
        r"(^\s*(när|when)\b|\b(sedan när|since when|until when|vilket år|vilken månad|"
        r"vilket datum|vilken tid|what year|which year|what date|what time|in what year)\b)",
        _FLAGS)),
    (AnswerKind.PERSON, re.compile(
        rf"(^\s*((to|for|with|by|from) )?(who|whom|whose)\b|\b(vem|vems)\b|"
        rf"\b{_WHICH} ({_PERSON_NOUNS})\b)", _FLAGS)),
    (AnswerKind.PLACE, re.compile(
        rf"(^\s*(var|vart|varifrån)\b|\b(where|{_WHICH} ({_PLACE_NOUNS}))\b)", _FLAGS)),
    (AnswerKind.ORGANISATION, re.compile(
        rf"\b{_WHICH} ({_ORGANISATION_NOUNS})\b", _FLAGS)),
]

_MONTHS = ("januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|"
           "december|january|february|march|may|june|july|august|october")
# with the OCR readings of å (tva, atta)
_NUMBER_WORDS = ("två|tva|tre|fyra|fem|sex|sju|åtta|atta|nio|tio|elva|tolv|tjugo|trettio|fyrtio|femtio|"
                 "hundra|tusen|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                 "thirty|forty|fifty|hundred|thousand|dussin|dozen")
_UNITS = ("%|procent|kr|kronor|miljoner|miljarder|personer|deltagare|stycken|st|timmar|veckor|"
          "månader|år|dagar|percent|people|participants|hours|weeks|months|years|days")
_NUMBER = re.compile(
    rf"(\b\d+(?:[  .,]\d{{3}})*(?:[.,]\d+)?|\b(?:{_NUMBER_WORDS})\b)(?:\s?(?:{_UNITS})\b|%)?",
    _FLAGS)
_DATE = re.compile(
    rf"\b(\d{{4}}-\d{{2}}-\d{{2}}|(\d{{1,2}}\s+)?({_MONTHS})(\s+\d{{4}})?|(våren|hösten|"
    rf"sommaren|vintern|spring|autumn|summer|winter)\s+\d{{4}}|1[89]\d\d|20\d\d)\b", _FLAGS)
_UPPER = "A-ZÅÄÖÉÜ"
_WORD = rf"[{_UPPER}][a-zåäöéüß]+(?:-[{_UPPER}]?[a-zåäöéüß]+)?"
_PERSON = re.compile(rf"\b{_WORD}(?:\s+(?:af|von|van|de)?\s*{_WORD})+")
_PROPER = re.compile(rf"\b(?:{_WORD}|[{_UPPER}]{{2,}}[a-zåäö]*)(?:\s+(?:{_WORD}|[{_UPPER}]{{2,}}))*")


# the reader asks once for every sentence it reads, with the same question
@lru_cache(maxsize=1024)
def answer_kind(question: str) -> AnswerKind:
    found = [(m.start(), order, kind) for order, (kind, pattern) in enumerate(_QUESTION_KINDS)
             if (m := pattern.search(question))]
    return min(found)[2] if found else AnswerKind.OTHER


def _candidates(kind: AnswerKind, sentence: str) -> list[tuple[int, int]]:
    if kind is AnswerKind.NUMBER:
        return [m.span() for m in _NUMBER.finditer(sentence)]
    if kind is AnswerKind.DATE:
        return [m.span() for m in _DATE.finditer(sentence)]
    pattern = _PERSON if kind is AnswerKind.PERSON else _PROPER
    # a capital at the very start of a sentence says nothing
    return [m.span() for m in pattern.finditer(sentence)
            if m.start() > 0 or kind is AnswerKind.PERSON]


def answer_spans(question: str, sentence: str) -> list[tuple[int, int]]:
    """Character spans of `sentence` holding an answer of the kind `question` asks for, less
    those that only repeat the question's own words or numbers."""
    kind = answer_kind(question)
    if kind is AnswerKind.OTHER:
        return []
    asked_terms = set(terms(question))
    asked_numbers = set(re.findall(r"\d+", question))
    spans = []
    for start, end in _candidates(kind, sentence):
        text = sentence[start:end].strip()
        if not text:
            continue
        numbers = set(re.findall(r"\d+", text))
        words = set(terms(text))
        if numbers and numbers <= asked_numbers:
            continue
        if not numbers and words and words <= asked_terms:
            continue
        spans.append((start, end))
    return spans


def mark(text: str, spans: list[tuple[int, int]], before: str, after: str) -> str:
    """`text` with each span wrapped in `before` … `after`."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [text[pos:start], before, text[start:end], after]
        pos = end
    out.append(text[pos:])
    return "".join(out)
