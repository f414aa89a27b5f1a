"""What kind of answer a question asks for, and where an answer of that kind stands in a quoted
sentence: the number, date, person, place or organisation, so that it can be marked.

Swedish and English wordings. A span that only repeats the question (the place a question names,
the year it asks about) is not the answer and is not marked. A how-much question that names its
measure (a cost, a rate, a population) is answered only by a number of that measure: an amount
of money, a percentage, a head count of inhabitants.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache
from typing import TypeVar

from .text import spelled, terms


class AnswerKind(str, Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    ORGANISATION = "organisation"
    TITLE = "title"  # a named person's title or role
    OTHER = "other"


_FLAGS = re.IGNORECASE
Kind = TypeVar("Kind")
# "vilken borgmästare", "which company", and "what is the capital of", "vad heter klubben"
_WHICH = (r"(?:vilken|vilket|vilka|which|what|what (?:is|are|was|were) the(?: name of the)?"
          r"(?: \w+)??|vad (?:är|var|heter|hette)(?: den| det)?)")
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
    "district|districts|neighbourhood|neighborhood|county|room|hall|huvudstad|huvudstaden|"
    "capital")
_ORGANISATION_NOUNS = (
    "organisation|organisationer|myndighet|myndigheter|förening|föreningar|aktör|aktörer|"
    "arbetsgivare|företag|fond|fonden|enhet|enheter|förvaltning|förvaltningar|avdelning|"
    "universitet|högskola|högskolor|parti|partier|nätverk|stiftelse|institut|organization|"
    "organisations|organizations|agency|agencies|authority|authorities|"
    "association|associations|employer|employers|company|companies|firm|firms|fund|funds|"
    "unit|department|university|universities|college|colleges|party|parties|network|"
    "networks|foundation|institute|institution|institutions|klubb|klubben|idrottsförening|"
    "club|clubs")
# Nouns naming a role or a venue. Where a document answers who holds one or where it is, it
# names the role beside the name ("borgmästare Boris Johnson", "Hotel Russell"), unlike a generic
# noun ("vilken stad", "which person") whose answer stands alone. Each group holds the Swedish and
# English words for one role or kind of venue, any of which names it.
_ROLES = [
    ("ambassadör", "ambassadören", "ambassador"),
    ("borgmästare", "borgmästaren", "mayor"),
    ("chef", "chefen", "head", "director", "direktör", "direktören", "generaldirektör"),
    ("ordförande", "ordföranden", "chair", "chairman", "chairperson"),
    ("minister", "ministern"),
    ("kontaktperson", "kontaktpersonen", "contact"),
    ("handläggare", "handläggaren"),
    ("samordnare", "samordnaren", "coordinator"),
    ("rektor", "rektorn", "principal"),
    ("kommunalråd", "kommunalrådet", "borgarråd", "borgarrådet"),
    ("grundare", "grundaren", "founder"),
    ("kommissionär", "kommissionären", "commissioner"),
    ("lokal", "lokalen", "sal", "salen", "rum", "rummet", "room", "hall", "venue"),
    ("hotell", "hotellet", "hotel"),
    ("byggnad", "byggnaden", "building"),
    ("huvudstad", "huvudstaden", "capital"),
]
_ROLE_GROUP = {word: group for group in _ROLES for word in group}
_ROLE = re.compile(
    rf"\b(?:{_WHICH}|(?:who|what) (?:is|was|are|were) the|vem är|vem var|vem blir)\s+"
    rf"({'|'.join(_ROLE_GROUP)})\b", re.IGNORECASE)
# the kind whose cue comes first wins: "hur många år" asks for a number, "vilket år" for a
# date, and "where do refugees who settle …" for a place; "när"/"when"/"who" ask only where
# they open the question (inside it they join clauses: "what happens when …")
_QUESTION_KINDS = [
    (AnswerKind.NUMBER, re.compile(
        r"\b(hur (många|mycket|stor|stora|hög|höga|högt|lång|långa|länge|ofta|gammal|gamla)|"
        r"how (many|much|large|high|long|big|often|old)|vad (kostar|kostade)|antal(et)?|"
        r"vilken andel|hur stor andel|what (share|percentage|proportion|number)|"
        r"vilket (telefon)?nummer|(what|which) (phone |telephone )?number)\b", _FLAGS)),
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
_WEEKDAYS = ("måndag|tisdag|onsdag|torsdag|fredag|lördag|söndag|monday|tuesday|wednesday|"
             "thursday|friday|saturday|sunday")
# a date, a year, a season of a year, a weekday ("varje onsdag", "torsdagskvällarna") or a
# clock time ("kl 8-10", "12.45", "10:30")
_DATE = re.compile(
    rf"\b(\d{{4}}-\d{{2}}-\d{{2}}|(\d{{1,2}}([-–]\d{{1,2}})?\s+)?({_MONTHS})(\s+\d{{4}})?|"
    rf"(våren|hösten|sommaren|vintern|spring|autumn|summer|winter)\s+\d{{4}}|1[89]\d\d|20\d\d|"
    rf"(?:{_WEEKDAYS})\w*|(?:kl\.?|klockan)\s*\d{{1,2}}(?:[.:]\d{{2}})?(?:\s?[-–]\s?\d{{1,2}}"
    rf"(?:[.:]\d{{2}})?)?|[012]?\d[.:][0-5]\d)\b", _FLAGS)


class Measure(str, Enum):
    """What a how-much question measures: its answer is a number of that measure, not any number
    ("Hur stor budget …" is not answered by a date or a head count)."""
    MONEY = "money"
    PERCENT = "percent"
    POPULATION = "population"
    DURATION = "duration"


_MEASURE_CUES = [
    (Measure.MONEY, re.compile(
        r"\b(\w*(kostnad|kostnader|avgift|avgifter|bidrag|ersättning|budget|anslag|lön|löner|"
        r"belopp|pris)(en|et|er|erna|na)?|kosta|kostar|kostade|pengar|cost|costs|costed|price|"
        r"prices|fee|fees|salary|salaries|wage|wages|pay|pays|paid|allowance|allowances|grant|"
        r"grants|spend|spends|spent|funding|budget|budgets|money|rent)\b", _FLAGS)),
    (Measure.PERCENT, re.compile(
        r"\b(procent|andel(en)?|\w*arbetslöshet(en)?|valdeltagande(t)?|percent|percentage|"
        r"share|proportion|rate|unemployment|turnout)\b", _FLAGS)),
    (Measure.POPULATION, re.compile(
        r"\b(invånare|befolkning(en)?|inhabitants|population|residents)\b", _FLAGS)),
    (Measure.DURATION, re.compile(
        r"\b(hur länge|hur lång tid|how long|hur långa? (är|var|blir) (den |det )?"
        r"\w*(tid|tiden|period|perioden))\b", _FLAGS)),
]
_SCALE = r"(?:tusen|miljoner|miljon|miljarder|miljard|thousand|million|millions|billion|mn|m)"
_CURRENCY = (r"(?:kr|kronor|krona|sek|dkk|nok|eur|euro|euros|usd|dollar|dollars|pund|£|€|\$|"
             r"mkr|mnkr|tkr|msek)")
# "150 (335) miljoner kronor": this year's amount, and last year's in brackets
_AMOUNT = r"\d+(?:[  .,]\d{3})*(?:[.,]\d+)?(?:\s?\(\d+(?:[  .,]\d{3})*(?:[.,]\d+)?\))?"
_TIME_UNITS = (r"(?:år|åren|månad|månader|vecka|veckor|dag|dagar|timme|timmar|minuter|termin|"
               r"terminer|läsår|year|years|month|months|week|weeks|day|days|hours|semesters?|"
               r"terms?)")
_MEASURE_SPANS = {
    Measure.MONEY: re.compile(
        rf"(?:(?:{_CURRENCY})\s?{_AMOUNT}(?:\s?{_SCALE}\b)?|\b{_AMOUNT}\s?(?:(?:{_SCALE}\s)?"
        rf"{_CURRENCY}(?!\w)|(?:miljoner|miljarder|million|billion)\b))", _FLAGS),
    Measure.PERCENT: re.compile(
        rf"\b{_AMOUNT}\s?(?:%|(?:procent|procentenheter|percent|per cent|percentage points)\b)",
        _FLAGS),
    Measure.POPULATION: re.compile(
        rf"\b{_AMOUNT}(?:\s+\w+){{0,2}}?\s+(?:invånare|inhabitants|residents|personer|"
        rf"people)\b|\b(?:befolkning|population)\w*\s+(?:\w+\s+){{0,3}}?{_AMOUNT}", _FLAGS),
    # "två terminer", "ett år", "en treårsperiod", "ettårig"
    Measure.DURATION: re.compile(
        rf"\b(?:{_AMOUNT}|{_NUMBER_WORDS}|ett|en|ena)(?:[-–](?:{_AMOUNT}))?\s?(?:{_TIME_UNITS}\b|"
        rf"-?(?:årig|åriga|årigt|års|årsperiod|veckors|månaders|dagars|timmars)\w*)", _FLAGS),
}
_UPPER = "A-ZÅÄÖÉÜ"
_WORD = rf"[{_UPPER}][a-zåäöéüß]+(?:-[{_UPPER}]?[a-zåäöéüß]+)?"
_PARTICLES = ("af", "von", "van", "de")
_PERSON = re.compile(rf"\b{_WORD}(?:\s+(?:{'|'.join(_PARTICLES)})?\s*{_WORD})+")
_PROPER = re.compile(rf"\b(?:{_WORD}|[{_UPPER}]{{2,}}[a-zåäö]*)(?:\s+(?:{_WORD}|[{_UPPER}]{{2,}}))*")


# A named person's title or role: "What is Tomas Stavbom's job title?", "Vilken roll har Yvonne
# Svensson i Solna stad?", "Who is Ulf Kristersson?". Documents answer it by writing the title
# beside the name ("Yvonne Svensson, verksamhetschef för …", "Socialborgarrådet Ulf Kristersson").
_TITLE_NOUN = (r"(?i:job title|title|role|position|post|job|occupation|profession|titel|"
               r"tjänstetitel|roll|befattning|tjänst|yrke)")
_NAMED = rf"(?P<name>{_WORD}(?:\s+{_WORD})*)"
_TITLE_QUESTIONS = [re.compile(pattern) for pattern in (
    rf"\b{_NAMED}(?:'s|’s|:s|s)\s+(?i:(?:current |official |new )?){_TITLE_NOUN}\b",
    rf"\b{_TITLE_NOUN}\s+(?i:does|did|has|had|har|hade|of)\s+{_NAMED}",
    rf"^\s*(?i:what\s+(?:does|did)|vad\s+(?:arbetar|jobbar|gör))\s+{_NAMED}"
    rf"\s+(?i:do|work as|som|för något)\b",
    rf"^\s*(?i:vad\s+har|what\s+has)\s+{_NAMED}\s+(?i:för)\s+{_TITLE_NOUN}\b",
    rf"^\s*(?i:who\s+(?:is|was)|vem\s+(?:är|var))\s+{_NAMED}\s*(?:\?|$|,|\s(?i:in|i|at|på)\s)",
)]
# the words that name a person's title, as `spelled` compares them (å/ä/ö folded: scans lose
# the dots, "Socialborgarradet"); a Swedish compound ending in one of the Swedish ones is one
# too ("verksamhetschef"), an English word only as it stands ("ahead" holds no head)
_SWEDISH_TITLES = frozenset(spelled(word) for word in (
    "chef chefen direktör direktören ordförande ordföranden handläggare handläggaren samordnare "
    "samordnaren sekreterare sekreteraren ansvarig ansvarige ledare ledaren strateg strategen "
    "utredare utredaren konsult konsulten konsulent konsulenten rådgivare rådgivaren borgarråd "
    "borgarrådet kommunalråd kommunalrådet regionråd regionrådet oppositionsråd "
    "oppositionsrådet landstingsråd landstingsrådet minister ministern ambassadör ambassadören "
    "borgmästare borgmästaren rektor rektorn lärare läraren professor professorn forskare "
    "forskaren koordinator koordinatorn mentor mentorn coach coachen tjänsteman tjänstemannen "
    "ledamot ledamoten expert experten kommissionär kommissionären grundare grundaren assistent "
    "administratör inspektör jurist ekonom analytiker planerare pedagog kurator socionom "
    "föreståndare föreståndaren intendent controller talesperson kontaktperson "
    "kontaktpersonen kontaktpersoner kontaktpersonerna talare talaren föreläsare föreläsaren "
    "moderator moderatorn").split())
_SWEDISH_TITLE_ENDS = tuple(_SWEDISH_TITLES)  # str.endswith takes a tuple
_ENGLISH_TITLES = frozenset((
    "director head manager officer coordinator adviser advisor consultant chair chairman "
    "chairwoman chairperson mayor secretary professor researcher teacher minister leader "
    "commissioner president ambassador councillor councilor administrator analyst strategist "
    "specialist founder principal ceo vd coach mentor lecturer executive contact speaker "
    "speakers moderator").split())
_TOKEN = re.compile(r"\w+(?:-\w+)*")
TITLE_REACH = 60  # characters between a name and the title written beside it


def _is_person(name: str) -> bool:
    """Whether a run of capitalised words names a person: it opens with a known first name, or
    holds two words none of which is a Swedish word ("Region Stockholm" is no person)."""
    from .translation import swedish_words

    words = [w for w in name.split() if w not in _PARTICLES]
    if words[0].split("-")[0] in first_names():
        return True
    return len(words) >= 2 and not any(w.lower() in swedish_words() for w in words)


@lru_cache(maxsize=1024)
def title_subject(question: str) -> str | None:
    """The person whose title or role `question` asks for, if it asks for one."""
    for pattern in _TITLE_QUESTIONS:
        match = pattern.search(question)
        if match and _is_person(match.group("name")):
            return match.group("name")
    return None


def _is_title(word: str) -> bool:
    """A title, or a Swedish compound ending in one ("verksamhetschef", "socialborgarrådet")."""
    word = spelled(word.lower())
    return word in _ENGLISH_TITLES or word.endswith(_SWEDISH_TITLE_ENDS)


def _named_at(question: str, sentence: str) -> list[tuple[int, int]]:
    """Where `sentence` names the person a title question asks about (by the last word of the
    name, as its terms)."""
    subject = title_subject(question)
    if subject is None:
        return []
    wanted = set(terms(subject.split()[-1]))
    return [m.span() for m in _TOKEN.finditer(sentence)
            if wanted and wanted <= set(terms(m.group(0)))]


def titled_by_heading(question: str, sentence: str, headings: list[str]) -> bool:
    """Whether `sentence` names the person a title question asks about under a heading that
    names the title ("KONTAKTPERSONER" above "För studiebesöken: Kajsa Rosén, …")."""
    return bool(_named_at(question, sentence)) and any(
        _is_title(m.group(0)) for heading in headings for m in _TOKEN.finditer(heading or ""))


def _titles(question: str, sentence: str) -> list[tuple[int, int]]:
    """The title written nearest to the name of the person asked about, where the sentence
    names that person."""
    named = _named_at(question, sentence)
    tokens = list(_TOKEN.finditer(sentence))
    titles = [m.span() for m in tokens if _is_title(m.group(0))]
    best = None
    for a, b in titles:
        for c, d in named:
            distance = max(c - b, a - d, 0)
            if distance <= TITLE_REACH and (best is None or distance < best[0]):
                best = (distance, (a, b))
    return [best[1]] if best else []


def _first_cue(cues: list[tuple[Kind, re.Pattern]], question: str) -> Kind | None:
    """The kind whose cue stands first in the question (the earlier listed one at a tie)."""
    found = [(m.start(), order, kind) for order, (kind, pattern) in enumerate(cues)
             if (m := pattern.search(question))]
    return min(found)[2] if found else None


# the reader asks once for every sentence it reads, with the same question
@lru_cache(maxsize=1024)
def answer_kind(question: str) -> AnswerKind:
    if title_subject(question):
        return AnswerKind.TITLE
    return _first_cue(_QUESTION_KINDS, question) or AnswerKind.OTHER


@lru_cache(maxsize=1024)
def asked_role(question: str) -> tuple[str, ...]:
    """The words for the role or venue a question asks about ("Who is the mayor of …" →
    borgmästare, borgmästaren, mayor); none where it asks about none."""
    match = _ROLE.search(question)
    return _ROLE_GROUP[match.group(1).lower()] if match else ()


@lru_cache(maxsize=1024)
def measure(question: str) -> Measure | None:
    """The measure a how-much question asks for, if its wording names one."""
    if answer_kind(question) is not AnswerKind.NUMBER:
        return None
    return _first_cue(_MEASURE_CUES, question)


def _numbers(sentence: str, asked: Measure | None) -> list[tuple[int, int]]:
    if asked is not None:
        return [m.span() for m in _MEASURE_SPANS[asked].finditer(sentence)]
    # without a unit, a date's day or year, or a number in a path, a statute's reference
    # ("1960:729", "§ 9") or a clock time counts nothing
    dates = [m.span() for m in _DATE.finditer(sentence)]
    return [(m.start(), m.end()) for m in _NUMBER.finditer(sentence)
            if m.group(0) != m.group(1)
            or not (any(a <= m.start() < b for a, b in dates)
                    or _in_reference(sentence, m.start(), m.end()))]


def _in_reference(sentence: str, start: int, end: int) -> bool:
    before, after = sentence[max(start - 1, 0):start], sentence[end:end + 1]
    return bool(before and before in "/:" or after and after in "/:"
                or "§" in sentence[max(start - 2, 0):start])


def _candidates(question: str, kind: AnswerKind, sentence: str) -> list[tuple[int, int]]:
    if kind is AnswerKind.NUMBER:
        return _numbers(sentence, measure(question))
    if kind is AnswerKind.DATE:
        return [m.span() for m in _DATE.finditer(sentence)]
    if kind is AnswerKind.PERSON:
        return _persons(sentence)
    if kind is AnswerKind.TITLE:
        return _titles(question, sentence)
    # a capital at the very start of a sentence says nothing
    spans = [m.span() for m in _PROPER.finditer(sentence) if m.start() > 0]
    if kind is AnswerKind.ORGANISATION:  # a country is a place, not an organisation
        spans = [(a, b) for a, b in spans if sentence[a:b].strip().lower() not in country_names()]
    return spans


def _persons(sentence: str) -> list[tuple[int, int]]:
    """Full names ("Ulla Johansson"), and first names standing alone ("Ulla börjar skriva")
    where not at a sentence's start, which a capital says nothing about."""
    spans = [m.span() for m in _PERSON.finditer(sentence) if _is_person(m.group(0))]
    for m in _SINGLE_WORD.finditer(sentence):
        if (m.group(0) in first_names() and not _SENTENCE_START.search(sentence[:m.start()])
                and not any(a <= m.start() < b for a, b in spans)):
            spans.append(m.span())
    return sorted(spans)


_SINGLE_WORD = re.compile(rf"\b{_WORD}\b")
_SENTENCE_START = re.compile(r"(?:^|[.?!:]\s*)$")
FIRST_NAME_LOCALES = ("sv_SE", "fi_FI", "da_DK", "no_NO")


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Swedish, Finnish, Danish and Norwegian first names (the lists Faker ships), less those
    that are also Swedish words (Hans, Inga, Per, Bo, Dag)."""
    from importlib import import_module

    from .translation import swedish_words

    names: set[str] = set()
    for locale in FIRST_NAME_LOCALES:
        provider = import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names_female", "first_names_male", "first_names"):
            names.update(getattr(provider, attribute, None) or ())
    words = swedish_words()
    return frozenset(name for name in names if name.lower() not in words)


_NOT_TERRITORIES = frozenset({"EU", "EZ", "UN", "XA", "XB"})  # unions, and CLDR's test codes


@lru_cache(maxsize=1)
def country_names() -> frozenset[str]:
    """The names of the world's countries, territories and regions in Swedish and English,
    lower-cased (the CLDR data that Babel ships), less the unions CLDR lists among them (the EU,
    the UN), which are organisations."""
    from babel import Locale

    return frozenset(name.lower() for language in ("sv", "en")
                     for code, name in Locale.parse(language).territories.items()
                     if code not in _NOT_TERRITORIES)


def answer_spans(question: str, sentence: str) -> list[tuple[int, int]]:
    """Character spans of `sentence` holding an answer of the kind `question` asks for, less
    those that only repeat the question's own words or numbers."""
    kind = answer_kind(question)
    if kind is AnswerKind.OTHER:
        return []
    asked_terms = set(terms(question))
    asked_numbers = set(re.findall(r"\d+", question))
    spans = []
    for start, end in _candidates(question, kind, sentence):
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
