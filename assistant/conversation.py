"""Follow-up questions: read a question in the light of the conversation before it is searched.

"Och Pirkkala?" after "Vad gjorde Gladsaxe med jobbpakker?" means "Vad gjorde Pirkkala med
jobbpakker?"; "Hur många deltog där?" needs the place the conversation was about. The rewrite here
is deterministic (the extractive backend's, and the LLM backends' fallback):

- an **elliptical** question (a fragment, often opened by "och", "and", "what about") takes the
  previous standalone question and puts the fragment in the matching place: a name replaces the
  previous question's name of the same kind, a phrase opened by a preposition replaces the phrase
  that preposition opened there, a phrase starting with a word of the previous question replaces
  the rest from that word;
- a **referring** question with no name of its own (one with "there", "it", "they", "där",
  "dem" …; or with "det", "den", "that" … and at most four content words, since those words are
  also articles and relative pronouns), or one too vague to stand alone (no name and at most two
  content words), gets the place for "there"/"där",
  a person named in the previous answer for "he"/"hon", and otherwise the previous standalone
  question in brackets.

Anything else stands on its own and is left exactly as asked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .text import detect_language, is_stopword, normalise_word, terms

MAX_HISTORY_TURNS = 50
MAX_HISTORY_BYTES = 1_000_000


@dataclass
class Turn:
    """One earlier exchange of the conversation."""

    question: str
    answer: str = ""
    searched_for: str | None = None  # the standalone question that was searched, if rewritten

    @property
    def standalone(self) -> str:
        return self.searched_for or self.question


class HistoryError(ValueError):
    """A conversation history that cannot be used."""


def parse_history(raw: object, origin: str) -> list[Turn]:
    """Turns from a JSON value: a list of {"question": …, "answer": …} objects."""
    if not isinstance(raw, list):
        raise HistoryError(f"{origin}: the history must be a JSON list of "
                           '{"question": …, "answer": …} objects')
    if len(raw) > MAX_HISTORY_TURNS:
        raise HistoryError(f"{origin}: more than {MAX_HISTORY_TURNS} turns")
    turns = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) \
                or not item["question"].strip():
            raise HistoryError(f"{origin}: turn {number} has no question text")
        for field in ("answer", "searched_for"):
            if item.get(field) is not None and not isinstance(item[field], str):
                raise HistoryError(f"{origin}: turn {number}: {field} must be text")
        turns.append(Turn(" ".join(item["question"].split()), item.get("answer") or "",
                          item.get("searched_for") or None))
    return turns


def load_history(path: Path) -> list[Turn]:
    """The conversation in a JSON file (`ask --history FILE`)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            raise HistoryError(f"{path}: larger than {MAX_HISTORY_BYTES // 1000} kB")
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse_history(raw, str(path))


# --- the words the rules look at -----------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+(?:[-'’:.][^\W_]+)*")
_WH = {"vad", "vem", "vems", "vilka", "vilken", "vilket", "hur", "när", "var", "vart", "varför",
       "varifrån", "what", "who", "whom", "whose", "which", "how", "when", "where", "why"}
_AUXILIARIES = {"är", "var", "har", "hade", "finns", "fanns", "kan", "kunde", "ska", "skulle",
                "får", "fick", "gör", "gjorde", "blir", "blev", "is", "are", "was", "were", "do",
                "does", "did", "has", "have", "had", "can", "could", "will", "would", "should"}
# openers of an elliptical question, longest first
_MARKERS = ["hur är det med", "hur var det med", "and what about", "and how about", "vad gäller",
            "what about", "how about", "samma för", "same for", "och", "men", "än", "and", "but"]
_TRAILERS = {"då", "också", "then", "too", "also"}
_LOCATIVE = {"där": "i", "dit": "till", "därifrån": "från", "there": "in"}
_PERSONAL = {"han", "hon", "honom", "henne", "hans", "hennes", "he", "she", "him", "her", "his"}
# words that always point back; and words that often do, but also serve as articles ("det
# konkreta mötet") or relative pronouns ("the group that …")
_POINTING = {"dem", "dessa", "it", "its", "they", "them", "their", "these", "those"} \
    | set(_LOCATIVE) | _PERSONAL
_REFERRING = _POINTING | {"det", "den", "de", "denna", "detta", "sådan", "sådant", "sådana",
                          "this", "that", "one", "ones"}
_PREPOSITIONS = {"i", "på", "för", "om", "med", "till", "från", "av", "efter", "före", "under",
                 "vid", "enligt", "inom", "hos", "mot", "bland", "in", "on", "at", "for", "with",
                 "to", "from", "of", "after", "before", "during", "by", "according", "within",
                 "among", "under"}
_PERSON_NAME = re.compile(r"\b[A-ZÅÄÖ][a-zåäöéü]+(?:-[A-ZÅÄÖ][a-zåäöéü]+)? [A-ZÅÄÖ][a-zåäöéü]+")


@dataclass
class _Token:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _is_number(token: _Token) -> bool:
    return any(c.isdigit() for c in token.text)


def _is_name(token: _Token) -> bool:
    """A proper name, acronym or number: words that pin a question to its subject."""
    if _is_number(token):
        return True
    word = token.lower
    if word in _WH or word in _AUXILIARIES or word in _REFERRING or word == "i":
        return False
    if is_stopword(word):
        return False
    return token.text[0].isupper()


def _names(tokens: list[_Token]) -> list[tuple[int, int]]:
    """Runs of name tokens as (first, last + 1) token indexes; numbers stand apart from words."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        if _is_name(tokens[i]):
            j = i + 1
            while (j < len(tokens) and _is_name(tokens[j])
                   and _is_number(tokens[j]) == _is_number(tokens[i])):
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def _strip_markers(question: str) -> tuple[str, bool]:
    """The question without an elliptical opener or trailer, and whether there was one."""
    text = question.strip().rstrip("?!. ").strip()
    lowered = text.lower()
    marked = False
    for marker in _MARKERS:
        if lowered == marker or lowered.startswith(marker + " "):
            text = text[len(marker):].lstrip(" ,–-")
            marked = True
            break
    words_ = text.split()
    while words_ and words_[-1].lower().strip(",") in _TRAILERS:
        words_.pop()
        marked = True
    return " ".join(words_).strip(" ,–-"), marked


def _is_elliptical(question: str) -> bool:
    fragment, marked = _strip_markers(question)
    tokens = _tokens(fragment)
    if not tokens or tokens[0].lower in _WH or tokens[0].lower in _AUXILIARIES:
        return False
    return (marked and len(tokens) <= 6) or len(tokens) <= 2


def _is_referring(question: str) -> bool:
    tokens = _tokens(question)
    if _names(tokens):
        return False
    content = len(terms(question))
    if any(t.lower in _POINTING for t in tokens):
        return True
    return (content <= 4 and any(t.lower in _REFERRING for t in tokens)) or content <= 2


def needs_context(question: str) -> bool:
    """Whether the question leans on the conversation (elliptical, referring or too vague)."""
    return _is_elliptical(question) or _is_referring(question)


# --- the rewrites ----------------------------------------------------------------------------

def _question_body(text: str) -> str:
    return text.strip().rstrip("?!. ").strip()


def _replace_tokens(text: str, tokens: list[_Token], first: int, last: int, new: str) -> str:
    return text[: tokens[first].start] + new + text[tokens[last - 1].end:]


def _fill_ellipsis(previous: str, fragment: str) -> str:
    body = _question_body(previous)
    p_tokens, f_tokens = _tokens(body), _tokens(fragment)
    f_names = _names(f_tokens)
    if f_names:
        first, last = f_names[0]
        new_name = fragment[f_tokens[first].start: f_tokens[last - 1].end]
        numeric = _is_number(f_tokens[first])
        same_kind = [r for r in _names(p_tokens) if _is_number(p_tokens[r[0]]) == numeric]
        if same_kind:
            a, b = same_kind[-1]
            return _replace_tokens(body, p_tokens, a, b, new_name) + "?"
    if f_tokens and f_tokens[0].lower in _PREPOSITIONS:
        opener = f_tokens[0].lower
        for i, token in enumerate(p_tokens):
            if token.lower == opener:
                end = next((j for j in range(i + 1, len(p_tokens))
                            if p_tokens[j].lower in _PREPOSITIONS), len(p_tokens))
                return _replace_tokens(body, p_tokens, i, end, fragment) + "?"
    fragment_terms = [normalise_word(t.lower) for t in f_tokens]
    for i, token in enumerate(p_tokens):
        if normalise_word(token.lower) in fragment_terms[:2] and token.lower not in _WH:
            return body[: token.start] + fragment + "?"
    return f"{body} {fragment}?"


def _place(previous: str) -> str | None:
    tokens = _tokens(_question_body(previous))
    words_ = [r for r in _names(tokens) if not _is_number(tokens[r[0]])]
    if not words_:
        return None
    a, b = words_[-1]
    return previous[tokens[a].start: tokens[b - 1].end]


def _resolve_reference(question: str, previous: Turn) -> str:
    tokens = _tokens(question)
    context = _question_body(previous.standalone).replace("(", "").replace(")", "")
    english = detect_language(question) == "en"
    for i, token in enumerate(tokens):
        if token.lower in _LOCATIVE:
            place = _place(context)
            if place:
                preposition = _LOCATIVE[token.lower]
                before = tokens[i - 1].lower if i else ""
                phrase = place if before in _PREPOSITIONS else f"{preposition} {place}"
                return question[: token.start] + phrase + question[token.end:]
        if token.lower in _PERSONAL:
            person = _PERSON_NAME.search(previous.answer or "")
            if person:
                name = person.group()
                if token.lower in {"hans", "hennes", "his"}:
                    name += "'s" if english else "s"
                elif token.lower == "her" and english and i + 1 < len(tokens) \
                        and tokens[i + 1].lower not in _PREPOSITIONS and _is_noun_like(tokens[i + 1]):
                    name += "'s"
                return question[: token.start] + name + question[token.end:]
    return f"{_question_body(question)}? ({context}?)"


def _is_noun_like(token: _Token) -> bool:
    return token.lower not in _AUXILIARIES and not is_stopword(token.lower)


def rewrite_followup(question: str, history: list[Turn]) -> str:
    """The standalone question to search for: `question` itself unless it leans on the
    conversation (see the module's docstring)."""
    question = " ".join(question.split())
    if not history:
        return question
    previous = history[-1]
    if _is_elliptical(question):
        fragment, _ = _strip_markers(question)
        return _fill_ellipsis(previous.standalone, fragment)
    if _is_referring(question):
        return _resolve_reference(question, previous)
    return question
