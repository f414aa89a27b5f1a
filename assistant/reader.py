"""The reader: which sentence of the shown passages answers the question, and how sure it is.

Every sentence of the first passages is described by a few features: how much of the question it
holds, how close its vector lies to the question's, whether it holds an answer of the kind asked
for (a name, number, place, date) that the question does not already name, how much it says beyond
the question's own words, its neighbours, its passage's rank. A logistic model over them, fitted on
the tune half of the question set by `eval/train_reader.py`, gives each sentence the probability
that it holds the evidence. The best probability is the reader's confidence: below the model's
threshold the extractive answer abstains.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .answer_types import AnswerKind, answer_kind, answer_spans, asked_role, titled_by_heading
from .citations import term_support
from .ocr_repair import repair_words, shows_damage
from .records import DenseMargin, Passage
from .text import sentence_spans, terms
from .translation import default_lexicon, translation_terms

MODEL_PATH = Path(__file__).with_name("reader_model.json")
TITLE_TERM_WEIGHT = 0.3  # words shared with a document's title pick the document, not the sentence
FEATURES = (
    "lexical",          # IDF-weighted share of the question's words in the sentence
    "passage_lexical",  # the same for the whole passage
    "context",          # the best of the two neighbouring sentences
    "dense",            # cosine of sentence and question vectors
    "dense_gap",        # that cosine less the best one among the candidates (<= 0)
    "english_dense",    # dense_gap for an English question (Swedish text shares few words)
    "latent",           # latent-term overlap with the question, as a share of the best one's
    "english_latent",   # the same for an English question (latent terms cross languages)
    "latent_best",      # the best latent-term overlap among the candidates (/ 20): a weak best
                        # match means no sentence is about what was asked
    "typed_answer",     # holds an answer of the asked kind that the question does not name
    "untyped",          # asks for a kind of answer the sentence does not hold
    "novelty",          # share of the sentence's words that are not the question's
    "length",           # log of the number of words
    "rank",             # the passage's rank, from 0
    "margin",           # how far the best dense match stands out (standard deviations / 10)
    "missing_names",    # share of the names the question mentions that its passage lacks
    "missing_numbers",  # the question holds a number (a year) that its passage lacks
)
COMPOUND_PART = 4  # the shortest name or word that counts as a compound's first part
_NATIONALITY_ENDS = ("sk", "ska")  # svensk, norska, kanadensisk
_NAME = re.compile(r"(?<!^)(?<![.?!:]\s)\b([A-ZÅÄÖ][\w-]+|[A-ZÅÄÖ]{2,})")
_DIGITS = re.compile(r"\d+")
_WH_NOUN = re.compile(r"^\s*(vilken|vilket|vilka|which|what)\s+(\S+)", re.IGNORECASE)


class ReaderModelError(ValueError):
    pass


def focus_term(question: str) -> str | None:
    """The noun a which-question asks about ("Vilken ambassadör …" → ambassadör), normalised."""
    match = _WH_NOUN.match(question)
    if not match:
        return None
    found = terms(match.group(2))
    return found[0] if found else None


def question_names(question: str, language: str = "sv") -> list[list[set[str]]]:
    """The names a question mentions (capitalised words not at its start), each as the terms of
    its ways of being written, any of which names it: a hyphenated one as its parts'
    ("DIVE-projektet" is named where a text writes "projekt DIVE"); in an English question, also
    as its Swedish translations ("Gothenburg": Göteborg), and an adjective of nationality, which
    Swedish writes in lower case ("Norwegian": norsk), is no name."""
    found = []
    for m in _NAME.finditer(question.strip()):
        word = m.group(1)
        own = set(terms(word.replace("-", " ")))
        if not own:
            continue
        ways = [own]
        if language == "en":
            swedish = default_lexicon().swedish_for(word)
            if any(s.endswith(_NATIONALITY_ENDS) for s in swedish):
                continue
            ways += [t for s in swedish if (t := set(terms(s)))]
        found.append(ways)
    return found


def names_in(name: list[set[str]], text_terms: set[str]) -> bool:
    """Whether a text names `name` (`question_names`) in one of its ways: each of that way's
    terms stands in the text, or opens a compound there, or a text's term opens it
    ("Torontoresan" names Toronto, "Toronto" the Torontoresan)."""
    return any(all(t in text_terms or len(t) >= COMPOUND_PART and any(
        len(u) >= COMPOUND_PART and (u.startswith(t) or t.startswith(u)) for u in text_terms)
        for t in way) for way in name)


def role_forms(question: str) -> set[str]:
    """The terms naming the role or venue `question` asks about (`asked_role`), if any."""
    return {t for word in asked_role(question) for t in terms(word)}


def names_role(forms: set[str], text_terms: set[str]) -> bool:
    """Whether a text's terms hold one of `forms`, also as the last part of a compound
    ("avdelningschef" names a "chef")."""
    return any(t in forms or any(len(f) >= 4 and t.endswith(f) for f in forms)
               for t in text_terms)


def names_role_as_asked(forms: set[str], text_terms: set[str], asked: set[str]) -> bool:
    """Whether a text names the role by a compound whose first part the question also asks
    about: "avdelningschef" for the head of a department ("avdelning" among the question's
    terms or their translations), where "enhetschef" is some other head."""
    for t in text_terms:
        for f in forms:
            if len(f) >= 4 and t.endswith(f) and len(t) > len(f):
                modifier = t[: -len(f)]
                # the Swedish linking -s of compounds: avdelning-s-chef
                if {modifier, modifier.rstrip("s")} & asked or \
                        any(len(a) >= 4 and modifier.startswith(a) for a in asked):
                    return True
    return False


def weighted_coverage(question_terms: list[str], text_terms: set[str],
                      idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms that a text contains."""
    unique = list(dict.fromkeys(question_terms))
    total = sum(idf.get(t, 1.0) for t in unique)
    if not total:
        return 0.0
    got = sum(idf.get(t, 1.0) * term_support([t], text_terms) for t in unique)
    return got / total


@dataclass
class SentenceCandidate:
    n: int  # the passage's number in the answer, from 1
    text: str  # as the passage has it: what the answer quotes
    read_as: str  # what the features were read from: the text, OCR damage repaired
    following: str = ""  # the passage's next sentence, as the passage has it ("" if a heading)
    # the sentence, the two before it, the one after it and the section's heading hold every
    # name the question mentions
    names_nearby: bool = True
    # or, each of them, there or in what names the passage's document (title, organisation,
    # file name: "according to the ESF presentation")
    names_in_reach: bool = True
    # the passage, its section heading or its title names the role or venue the question asks
    # about (`asked_role`), if it asks about one
    role_named: bool = True
    # the sentence itself holds an answer of the asked kind and names that role
    names_the_role: bool = False
    # and names it by a compound whose first part the question asks about (`names_role_as_asked`)
    names_the_role_as_asked: bool = False
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0


@dataclass(frozen=True)
class ReaderModel:
    weights: dict[str, float]
    bias: float
    min_confidence: float  # abstain when the best sentence's probability is below this
    also_quote: float  # quote further sentences whose probability is this share of the best's

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> "ReaderModel":
        try:
            raw = json.loads(Path(path).read_text("utf-8"))
            model = cls(weights={k: float(raw["weights"][k]) for k in FEATURES},
                        bias=float(raw["bias"]), min_confidence=float(raw["min_confidence"]),
                        also_quote=float(raw["also_quote"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReaderModelError(f"{path}: not a valid reader model ({exc})") from exc
        if not all(math.isfinite(w) for w in [*model.weights.values(), model.bias]):
            raise ReaderModelError(f"{path}: not a valid reader model (weights must be finite)")
        return model

    def score(self, candidates: list[SentenceCandidate]) -> None:
        if not candidates:
            return
        matrix = feature_matrix(candidates)
        w = np.array([self.weights[k] for k in FEATURES])
        logits = matrix @ w + self.bias
        for c, p in zip(candidates, 1.0 / (1.0 + np.exp(-logits))):
            c.probability = float(p)


@lru_cache(maxsize=1)
def default_model() -> ReaderModel:
    return ReaderModel.load()


def feature_matrix(candidates: list[SentenceCandidate]) -> np.ndarray:
    return np.array([[c.features[k] for k in FEATURES] for c in candidates], dtype=np.float64)


def read_sentences(text: str, damaged: bool | None = None) -> tuple[list[str], list[str]]:
    """The sentences of a passage's text as quoted, and as read (repaired where OCR damaged the
    text: `damaged`, or `shows_damage(text)` when not given)."""
    if damaged is None:
        damaged = shows_damage(text)
    sentences = [" ".join(text[s:e].split()) for s, e in sentence_spans(text)]
    return sentences, [repair_words(s) if damaged else s for s in sentences]


def sentence_candidates(question: str, passages: list[Passage], idf: dict[str, float],
                        language: str, margin: DenseMargin) -> list[SentenceCandidate]:
    """Every distinct sentence of `passages` with its features, less the dense ones (which need
    the sentence vectors: see `add_dense`). `idf` holds the question's search terms: an English
    question's also hold the Swedish translations of its words, which its sentences are read for
    as for its own words."""
    question_terms = list(dict.fromkeys(terms(question) + list(idf)))
    asked = set(question_terms)
    focus = focus_term(question)
    if focus in idf:  # the asked-about noun matters more than the rest of the question
        idf = {**idf, focus: 2 * idf[focus]}
    kind = answer_kind(question)
    names = question_names(question, language)
    numbers = set(_DIGITS.findall(question))
    roles = role_forms(question)
    role_modifiers = asked | (translation_terms(question, default_lexicon())
                              if roles and language == "en" else set())
    seen: set[str] = set()
    out: list[SentenceCandidate] = []
    for n, passage in enumerate(passages, start=1):
        title_terms = set(terms(passage.title))
        # what names the document itself: "according to the ESF presentation"
        identity = title_terms | set(terms(f"{passage.organisation or ''} "
                                           f"{Path(passage.source).stem.replace('-', ' ')}"))
        weights = {t: w * (TITLE_TERM_WEIGHT if t in title_terms else 1.0) for t, w in idf.items()}
        # features are read from the text as repaired where OCR damaged it; quotes stay verbatim
        damaged = shows_damage(passage.text)
        passage_terms = set(terms(repair_words(passage.text) if damaged else passage.text))
        passage_lexical = weighted_coverage(question_terms, passage_terms, weights)
        missing_names = (sum(1 for name in names if not names_in(name, passage_terms)) / len(names)
                         if names else 0.0)
        missing_numbers = float(bool(numbers - set(_DIGITS.findall(passage.text))))
        role_named = not roles or names_role(
            roles, passage_terms | set(terms(passage.section or "")) | title_terms)
        sentences, read = read_sentences(passage.text, damaged)
        words = [terms(s) for s in read]
        section_terms = set(terms(passage.section or ""))
        lexical = [weighted_coverage(question_terms, set(w), weights) for w in words]
        heading = passage.section or ""  # the last heading above the sentence
        for i, sentence in enumerate(sentences):
            key = sentence.lower()
            if len(words[i]) < 3:
                heading = read[i]
            if key in seen or len(words[i]) < 3:
                continue  # overlapping chunks repeat sentences; headings say too little
            seen.add(key)
            unique = set(words[i])
            typed = kind is not AnswerKind.OTHER and bool(answer_spans(question, read[i]))
            if kind is AnswerKind.TITLE and not typed:  # "KONTAKTPERSONER" above the names
                typed = titled_by_heading(question, read[i], [passage.section or "", heading])
            neighbours = [lexical[j] for j in (i - 1, i + 1) if 0 <= j < len(sentences)]
            nearby = section_terms.union(*words[max(i - 2, 0):i + 2])
            following = (sentences[i + 1] if i + 1 < len(sentences) and len(words[i + 1]) >= 3
                         else "")
            out.append(SentenceCandidate(n=n, text=sentence, read_as=read[i], following=following,
                                         names_nearby=all(names_in(name, nearby) for name in names),
                                         names_in_reach=all(names_in(name, nearby | identity)
                                                            for name in names),
                                         role_named=role_named,
                                         names_the_role=bool(roles) and typed
                                         and names_role(roles, unique),
                                         names_the_role_as_asked=bool(roles) and typed
                                         and names_role_as_asked(roles, unique, role_modifiers),
                                         features={
                "lexical": lexical[i],
                "passage_lexical": passage_lexical,
                "context": max(neighbours, default=0.0),
                "typed_answer": float(typed),
                "untyped": float(kind is not AnswerKind.OTHER and not typed),
                "novelty": len(unique - asked) / len(unique),
                "length": math.log1p(len(words[i])),
                "rank": float(n - 1),
                "margin": min(max(margin.in_sd, 0.0), 30.0) / 10,
                "missing_names": missing_names,
                "missing_numbers": missing_numbers,
            }))
    return out


def add_dense(candidates: list[SentenceCandidate], cosines: list[float], latent: list[float],
              language: str) -> None:
    """The features that need the sentence vectors: cosines, and latent-term overlaps (all 0
    where the embedder has no latent terms)."""
    best = max(cosines, default=0.0)
    best_latent = max(latent, default=0.0)
    english = language == "en"
    for c, cosine, overlap in zip(candidates, cosines, latent):
        share = overlap / best_latent if best_latent > 0 else 0.0
        c.features.update(dense=cosine, dense_gap=cosine - best,
                          english_dense=(cosine - best) if english else 0.0,
                          latent=share, english_latent=share if english else 0.0,
                          latent_best=min(best_latent / 20, 2.0))
