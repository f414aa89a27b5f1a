"""Swedish OCR repair for search: the words a scanner misread, mapped back to the word meant.

Scanned Swedish loses å/ä/ö: "tjinster" for tjänster, "stdder" for städer, "&r" for är, "fér" for
för, "forslag" for förslag. Quotes stay verbatim; only what the index and the reader compare with
a question (the embedded text, the keyword terms, the reader's sentence features) is repaired.

A word is looked up in wordfreq's Swedish word list. One that the list lacks, or a bare spelling
(for, pa, tva) whose å/ä/ö form is far more common, becomes the most common listed word that the
usual misreadings of å/ä/ö lead back to. A word that still has å/ä/ö, one in capitals, and an
unlisted compound of listed words (unless only its dots were lost) are left as they are. A text
is repaired only where it shows damage (`DAMAGE_SHARE` of its words repairable), so a clean text
with a rare name or a typo is left alone.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from functools import lru_cache

REPAIR_ID = "sv-ocr-wordfreq-large-2"  # recorded in the index manifest: a change re-embeds

DAMAGE_SHARE = 0.06  # the scanned bundled texts show 11-26 % per passage, clean ones under 5 %
MIN_FREQUENCY = 1e-7  # rarer listed words are mostly misspellings themselves
BARE_RATIO = 20  # "pa" becomes "på" when på is this many times as common
MISREAD_RATIO = 100  # a listed word misread once ("dir") yields to one this many times as common
MAX_MISREADINGS = 3
# Bounds on the work one word may cost (a document is untrusted: a run of letters such as
# "deidei…" would otherwise try every combination of its sites)
MAX_WORD_CHARS = 40
MAX_SITES = 8

_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o"})
# What å/ä/ö were read as, and the bare letter each stands for once folded.
_MISREADINGS = {
    "é&": "a", "ii": "a", "ié": "a", "ia": "a", "ai": "a", "aé": "a", "é": "ao", "è": "a",
    "&": "a", "i": "a", "d": "ao", "e": "a", "6": "o", "0": "o", "1": "i",
}
_SITE = re.compile("|".join(re.escape(s) for s in sorted(_MISREADINGS, key=len, reverse=True)))
_TOKEN = re.compile(r"[\w&]+")  # "&" stands for ä in "&r"


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, float], dict[str, tuple[str, float]]]:
    """wordfreq's Swedish list, and its most common word for each folded spelling."""
    from wordfreq import get_frequency_dict

    frequency = get_frequency_dict("sv", "large")
    by_fold: dict[str, tuple[str, float]] = {}
    for word, f in frequency.items():
        if f < MIN_FREQUENCY or not word.isalpha():
            continue
        key = word.translate(_FOLD)
        if key not in by_fold or by_fold[key][1] < f:
            by_fold[key] = (word, f)
    return frequency, by_fold


def _spellings(word: str, misread: int) -> set[str]:
    """Folded spellings of `word` with `misread` of its possible misreadings undone."""
    sites = [(m.start(), m.end(), _MISREADINGS[m.group()]) for m in _SITE.finditer(word)]
    if len(sites) > MAX_SITES:
        return set()
    out = set()
    for combo in itertools.combinations(sites, misread):
        for letters in itertools.product(*(site[2] for site in combo)):
            parts, pos = [], 0
            for (start, end, _), letter in zip(combo, letters):
                parts += [word[pos:start], letter]
                pos = end
            parts.append(word[pos:])
            out.add("".join(parts).translate(_FOLD))
    return out


def _most_common(spellings: set[str]) -> tuple[str, float] | None:
    _, by_fold = _lexicon()
    found = [by_fold[s] for s in spellings if s in by_fold]
    return max(found, key=lambda x: (x[1], x[0])) if found else None


def _lookup(word: str, fewest: int = 0) -> str | None:
    """The word an unlisted lower-case `word` was meant to be, with the fewest misreadings (from
    `fewest`; 0 is the word with its dots lost)."""
    for misread in range(fewest, MAX_MISREADINGS + 1):
        found = _most_common(_spellings(word, misread) if misread else {word.translate(_FOLD)})
        if found:
            return found[0]
    return None


def _listed(word: str) -> bool:
    return _lexicon()[0].get(word, 0.0) >= MIN_FREQUENCY


def _is_compound(word: str) -> bool:
    # a first part of four letters or more ("std" + "der" is no compound of stdder)
    return any(_listed(word[:i]) and _listed(word[i:]) for i in range(4, len(word) - 2)) or any(
        word[i - 1] == "s" and _listed(word[: i - 1]) and _listed(word[i:])
        for i in range(5, len(word) - 2))


def _meant(word: str, trust_misread_listed: bool) -> str | None:
    frequency, by_fold = _lexicon()
    own = frequency.get(word)
    dotted = by_fold.get(word.translate(_FOLD))  # the commonest word that differs in dots only
    if own is not None:
        if dotted and dotted[0] != word and dotted[1] >= BARE_RATIO * own:
            return dotted[0]
        once = _most_common(_spellings(word, 1)) if trust_misread_listed else None
        if once and once[0] != word and once[1] >= MISREAD_RATIO * own:
            return once[0]
        return None
    if dotted:  # only the dots were lost ("genomfora"), though its parts may be words too
        return dotted[0]
    if _is_compound(word):
        return None
    found = _lookup(word, fewest=1)
    if found:
        return found
    # a known first part and a misread last one ("integrationsfrdgan")
    for i in range(len(word) - 5, 3, -1):
        head, tail = word[:i], word[i:]
        if _listed(head) or (head.endswith("s") and _listed(head[:-1])):
            found = _lookup(tail)
            if found:
                return head + found
    return None


@lru_cache(maxsize=200_000)
def repair_word(word: str) -> str:
    """The word a scanner's `word` stands for, or `word` itself."""
    low = word.lower()
    if (len(low) < 2 or len(low) > MAX_WORD_CHARS or not any(c.isalpha() for c in low)
            or any(c in "åäö" for c in low)):
        return word
    if word.isupper():
        return word  # an acronym (IV, SKI)
    capitalised = word[:1].isupper()
    # a listed word misread once ("dir" for där) is only trusted in lower case: "Ski" is a town
    meant = _meant(low, trust_misread_listed=not capitalised)
    if not meant or meant == low:
        return word
    return meant[:1].upper() + meant[1:] if capitalised else meant


def damage_share(text: str) -> float:
    """Share of the text's words that `repair_word` changes."""
    found = [w for w in _TOKEN.findall(text) if not w.isdigit()]
    return sum(repair_word(w) != w for w in found) / len(found) if found else 0.0


# Every snapshot write reads all chunk texts again for the keyword index; their verdicts are kept
# by digest (16 bytes each, not the texts), and forgotten all at once when there are too many.
_VERDICTS: dict[bytes, bool] = {}
MAX_VERDICTS = 200_000


def shows_damage(text: str) -> bool:
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    found = _VERDICTS.get(key)
    if found is None:
        found = damage_share(text) >= DAMAGE_SHARE
        if len(_VERDICTS) >= MAX_VERDICTS:
            _VERDICTS.clear()
        _VERDICTS[key] = found
    return found


def repair_words(text: str) -> str:
    """`text` with every word repaired, damage or not."""
    return _TOKEN.sub(lambda m: m.group() if m.group().isdigit() else repair_word(m.group()), text)


def for_search(text: str) -> str:
    """What the index and the reader compare with a question: `text`, repaired where it shows
    OCR damage."""
    return repair_words(text) if shows_damage(text) else text


def question_for_search(question: str, language: str) -> str:
    """A Swedish question typed without å/ä/ö ("Vad ar forutsattningarna?") as it was meant;
    any other question as asked. For the question's vector: keyword terms fold å/ä/ö anyway."""
    if language != "sv" or any(c in "åäöÅÄÖ" for c in question):
        return question
    return repair_words(question)
