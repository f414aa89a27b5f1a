"""Evaluation over a gold question set: does retrieval find, and does the answer cite, the passage
that holds the evidence? Does the assistant abstain when the documents have no answer?"""

from __future__ import annotations

import json
import sys
import shutil
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .citations import CitationQuality, citation_quality
from .config import Settings
from .conversation import Turn
from .documents import kind_of
from .indexer import corpus_files
from .records import Answer, Passage

RETRIEVE_K = 10


@dataclass(frozen=True)
class Evidence:
    source: str
    quote: str


@dataclass
class GoldQuestion:
    id: str
    question: str
    answerable: bool
    evidence: list[Evidence]
    keywords: list[list[str]]
    language: str | None = None
    kind: str | None = None  # what the question asks for: person, place, number, date, list, …
    # unanswerable from the corpus, but a distractor document answers it (checked by reading)
    distractors_answer: bool = False


class QuestionSetError(ValueError):
    pass


def half(question_id: str) -> str:
    """The fixed split of every question set: "tune" (weights, thresholds and rules may be chosen
    on it) or "test" (nothing is tuned on it), by a checksum of the id."""
    return "tune" if zlib.crc32(question_id.encode("utf-8")) % 2 == 0 else "test"


def _gold(raw: dict, qid: str, answerable: bool) -> GoldQuestion:
    evidence = []
    if answerable:
        evidence.append(Evidence(raw["source"], raw["evidence"]))
        evidence += [Evidence(a["source"], a["evidence"]) for a in raw.get("also", [])]
    return GoldQuestion(id=qid, question=raw["question"], answerable=answerable,
                        evidence=evidence, keywords=raw.get("keywords") or [],
                        language=raw.get("language"), kind=raw.get("kind"),
                        distractors_answer=bool(raw.get("distractors_answer", False)))


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def _jsonl_objects(path: Path, what: str) -> Iterator[tuple[str, dict]]:
    """Each non-empty line's JSON object with its place ("file:line"); ids must be unique."""
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
            record_id = str(raw["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise QuestionSetError(f"{where}: not a valid {what} ({exc})") from exc
        if record_id in seen:
            raise QuestionSetError(f"{where}: duplicate id {record_id}")
        seen.add(record_id)
        yield where, raw


def load_questions(path: Path) -> list[GoldQuestion]:
    questions: list[GoldQuestion] = []
    for where, raw in _jsonl_objects(path, "question"):
        try:
            q = _gold(raw, str(raw["id"]), bool(raw["answerable"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise QuestionSetError(f"{where}: not a valid question ({exc})") from exc
        if q.answerable and not all(e.source and e.quote for e in q.evidence):
            raise QuestionSetError(f"{where}: answerable question without evidence")
        questions.append(q)
    return questions


@dataclass
class ConversationTurn:
    question: str
    gold: GoldQuestion | None = None  # a follow-up with its evidence
    intended: str | None = None  # the standalone question it means, for readers of the set


@dataclass
class Conversation:
    id: str
    turns: list[ConversationTurn]


def load_followups(path: Path) -> list[Conversation]:
    """Follow-up conversations, one JSON object a line: {"id", "language", "turns": [{"question"},
    {"question", "intended", "source", "evidence", "keywords"}, …]}; the first turn opens the
    conversation, every later one with evidence is scored."""
    conversations: list[Conversation] = []
    for where, raw in _jsonl_objects(path, "conversation"):
        cid = str(raw["id"])
        try:
            turns = []
            for i, turn in enumerate(raw["turns"]):
                gold = None
                if i and turn.get("evidence"):
                    gold = _gold({**turn, "language": raw.get("language")}, f"{cid}#{i}", True)
                turns.append(ConversationTurn(str(turn["question"]), gold, turn.get("intended")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise QuestionSetError(f"{where}: not a valid conversation ({exc})") from exc
        if len(turns) < 2 or not any(t.gold for t in turns):
            raise QuestionSetError(f"{where}: a conversation needs a follow-up with evidence")
        conversations.append(Conversation(cid, turns))
    return conversations


def check_evidence(questions: list[GoldQuestion], corpus_dir: Path) -> list[str]:
    """Problems with evidence quotes: each must occur in its file (whitespace-insensitive)."""
    from .documents import DocumentError, load_document

    problems, texts = [], {}
    for q in questions:
        for ev in q.evidence:
            if ev.source not in texts:
                path = corpus_dir / ev.source
                try:
                    texts[ev.source] = normalise(load_document(path, ev.source).text)
                except (DocumentError, FileNotFoundError) as exc:
                    texts[ev.source] = None
                    problems.append(f"{q.id}: cannot read {ev.source} ({exc})")
            if texts[ev.source] is not None and normalise(ev.quote) not in texts[ev.source]:
                problems.append(f"{q.id}: evidence not found in {ev.source}: {ev.quote!r}")
    return problems


def holds_evidence(passage: Passage, question: GoldQuestion) -> bool:
    text = normalise(passage.text)
    return any(passage.source == ev.source and normalise(ev.quote) in text
               for ev in question.evidence)


def first_hit_rank(passages: list[Passage], question: GoldQuestion) -> int | None:
    for rank, passage in enumerate(passages, start=1):
        if holds_evidence(passage, question):
            return rank
    return None


def keywords_met(answer_text: str, keywords: list[list[str]]) -> bool:
    text = answer_text.lower()
    return all(any(k.lower() in text for k in group) for group in keywords)


@dataclass
class QuestionResult:
    question: GoldQuestion
    retrieved: list[Passage]
    answer: Answer
    seconds: float
    hit_rank: int | None = None
    cites_evidence: bool = False
    keywords_ok: bool = False
    quality: CitationQuality | None = None  # of the backend's own answer text

    def as_json(self) -> dict:
        usage = self.answer.usage
        return {
            "id": self.question.id,
            "half": half(self.question.id),
            "question": self.question.question,
            "searched_for": self.answer.searched_for or self.question.question,
            "answerable": self.question.answerable,
            "language": self.question.language,
            "kind": self.question.kind,
            "retrieved": [{"source": p.source, "text": p.text, "score": round(p.score, 6)}
                          for p in self.retrieved],
            "answer": self.answer.text,
            "backend": self.answer.backend,
            "raw_answer": self.answer.raw_text,
            "fallback": self.answer.fallback,
            "flagged": self.answer.flagged_sentences,
            "usage": ({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                       "reported_by_server": usage.reported} if usage else None),
            "citation_quality": self.quality.__dict__ if self.quality else None,
            "abstained": self.answer.abstained,
            "citations": [{"n": c.n, "source": c.passage.source if c.passage else None,
                           "text": c.passage.text if c.passage else None,
                           "supported": c.supported} for c in self.answer.citations],
            "hit_rank": self.hit_rank,
            "cites_evidence": self.cites_evidence,
            "keywords_ok": self.keywords_ok,
            "seconds": round(self.seconds, 4),
        }


def judged_text(answer: Answer, backend: str) -> str | None:
    """The text whose own citations are judged: an LLM's raw answer (none when the server failed),
    or the extractive answer itself."""
    if answer.abstained:
        return None
    if answer.raw_text is not None:
        return answer.raw_text
    return answer.text if backend == "extractive" else None


def score(question: GoldQuestion, retrieved: list[Passage], answer: Answer, seconds: float,
          backend: str = "extractive", min_support: float = 0.5) -> QuestionResult:
    result = QuestionResult(question, retrieved, answer, seconds)
    text = judged_text(answer, backend)
    if text is not None:
        result.quality = citation_quality(text, answer.passages, min_support)
    if question.answerable:
        result.hit_rank = first_hit_rank(retrieved, question)
        result.cites_evidence = not answer.abstained and any(
            c.passage is not None and holds_evidence(c.passage, question) for c in answer.citations)
        result.keywords_ok = not answer.abstained and keywords_met(answer.text, question.keywords)
    return result


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def backend_metrics(results: list[QuestionResult]) -> dict[str, float]:
    """How the backend's own answers cite (ALCE-style), and what the checker did with them."""
    judged = [r.quality for r in results if r.quality is not None]
    usages = [r.answer.usage for r in results if r.answer.usage is not None]
    removed = sum(r.answer.removed_citations for r in results)
    return {
        "answer_citation_recall": _share(sum(q.supported_sentences for q in judged),
                                         sum(q.sentences for q in judged)),
        "answer_citation_precision": _share(sum(q.supporting_citations for q in judged),
                                            sum(q.citations for q in judged)),
        "judged_answers": len(judged),
        "flagged_sentences": sum(len(r.answer.flagged_sentences) for r in results) - removed,
        "removed_citations": removed,
        "fallbacks": sum(r.answer.fallback is not None for r in results),
        "fallbacks_failed": sum(r.answer.fallback == "failed" for r in results),
        "tokens_in_mean": _share(sum(u.input_tokens for u in usages), len(usages)),
        "tokens_out_mean": _share(sum(u.output_tokens for u in usages), len(usages)),
        "tokens_reported_by_server": all(u.reported for u in usages) if usages else False,
    }


def halves(results: list[QuestionResult], keys: list[str]) -> dict[str, float]:
    values = {}
    for name in ("tune", "test"):
        part = [r for r in results if half(r.question.id) == name]
        measured = metrics(part) if part else {}
        for key in keys:
            values[f"{key}_{name}"] = measured.get(key, 0.0)
    return values


def breakdown(results: list[QuestionResult]) -> list[dict]:
    """The headline figures per half, and within each half per language and per answer kind, so
    that a gain on the tune half can be checked against the test half group by group."""
    rows = []
    for name in ("tune", "test"):
        part = [r for r in results if half(r.question.id) == name]
        groups: dict[str, list[QuestionResult]] = {"all": part}
        for r in part:
            q = r.question
            if q.answerable:
                groups.setdefault(f"language {q.language or '?'}", []).append(r)
                groups.setdefault(f"kind {q.kind or '?'}", []).append(r)
        order = sorted(groups, key=lambda g: (g != "all", not g.startswith("language"), g))
        for group in order:
            m = metrics(groups[group])
            rows.append({
                "half": name, "group": group, "answerable": m["answerable"],
                **{k: m[k] for k in ("hit_at_5", "mrr_at_10", "citation_hit", "keyword_accuracy")},
                "refused_answerable": m["wrong_abstentions"],
                "unanswerable": m["unanswerable"],
                "refused_unanswerable": m["abstained_unanswerable"],
            })
    return rows


def breakdown_table(rows: list[dict]) -> str:
    lines = ["| half | group | answerable | hit@5 | MRR@10 | cites | keywords | refused "
             "(answerable) | refused (unanswerable) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        unanswerable = (f"{row['refused_unanswerable']} of {row['unanswerable']}"
                        if row["unanswerable"] else "")
        lines.append(f"| {row['half']} | {row['group']} | {row['answerable']} | "
                     f"{row['hit_at_5']:.3f} | {row['mrr_at_10']:.3f} | {row['citation_hit']:.3f} | "
                     f"{row['keyword_accuracy']:.3f} | {row['refused_answerable']} | {unanswerable} |")
    return "\n".join(lines)


def metrics(results: list[QuestionResult]) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    n = max(len(answerable), 1)
    citations = [c for r in results for c in r.answer.citations]
    ranks = [r.hit_rank for r in answerable]
    latencies = [r.seconds * 1000 for r in results]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hit_at_1": sum(1 for k in ranks if k is not None and k <= 1) / n,
        "hit_at_3": sum(1 for k in ranks if k is not None and k <= 3) / n,
        "hit_at_5": sum(1 for k in ranks if k is not None and k <= 5) / n,
        "mrr_at_10": sum(1 / k for k in ranks if k is not None and k <= 10) / n,
        "citation_hit": sum(r.cites_evidence for r in answerable) / n,
        "citation_precision": (sum(c.supported for c in citations) / len(citations)) if citations else 0.0,
        "citations": len(citations),
        "out_of_range_citations": sum(1 for c in citations if c.passage is None),
        "keyword_accuracy": sum(r.keywords_ok for r in answerable) / n,
        "abstained_unanswerable": sum(r.answer.abstained for r in unanswerable),
        "abstention_rate": (sum(r.answer.abstained for r in unanswerable) / len(unanswerable)) if unanswerable else 0.0,
        "wrong_abstentions": sum(r.answer.abstained for r in answerable),
        "latency_p50_ms": _percentile(latencies, 0.5),
        "latency_p95_ms": _percentile(latencies, 0.95),
    }


# metrics where higher is better, with a --min-… threshold each; and those where lower is
HIGHER_IS_BETTER = ["hit_at_1", "hit_at_3", "hit_at_5", "mrr_at_10", "citation_hit",
                    "citation_precision", "keyword_accuracy", "abstention_rate",
                    "answer_citation_recall", "answer_citation_precision",
                    "followup_rewrite_accuracy", "followup_citation_hit"]
LOWER_IS_BETTER = ["out_of_range_citations", "wrong_abstentions", "latency_p50_ms", "fallbacks",
                   "standalone_rewritten"]


def failed_thresholds(values: dict[str, float], minimums: dict[str, float],
                      maximums: dict[str, float]) -> list[str]:
    failures = [f"{k} was not measured" for k in [*minimums, *maximums] if k not in values]
    failures += [f"{k} = {values[k]:.3f} < {v}" for k, v in minimums.items()
                 if k in values and values[k] < v]
    failures += [f"{k} = {values[k]:.3f} > {v}" for k, v in maximums.items()
                 if k in values and values[k] > v]
    return failures


def _ask(assistant, question: str, top_k: int, history: list[Turn], backend: str):
    """One question as the CLI asks it, with RETRIEVE_K passages kept for the ranking figures."""
    retrieval = assistant.retrieve_followup(question, history, backend, max(RETRIEVE_K, top_k))
    return retrieval, assistant.answer(retrieval, top_k, backend=backend)


def run_evaluation(assistant, questions: list[GoldQuestion], top_k: int,
                   backend: str = "extractive") -> list[QuestionResult]:
    results = []
    assistant.snapshot()  # load before timing
    support = assistant.settings.min_citation_support
    for q in questions:
        started = time.perf_counter()
        retrieval, answer = _ask(assistant, q.question, top_k, [], backend)
        elapsed = time.perf_counter() - started
        results.append(score(q, retrieval.passages, answer, elapsed, backend, support))
    return results


@dataclass
class FollowupResult:
    conversation: str
    result: QuestionResult  # scored on what was searched for
    unrewritten_rank: int | None  # where the evidence ranks when the follow-up is searched as asked

    @property
    def rewritten(self) -> bool:
        return self.result.answer.searched_for is not None

    def as_json(self) -> dict:
        return {**self.result.as_json(), "conversation": self.conversation,
                "unrewritten_hit_rank": self.unrewritten_rank}


def run_followups(assistant, conversations: list[Conversation], top_k: int,
                  backend: str = "extractive") -> list[FollowupResult]:
    """Each conversation in order, every answer feeding the next turn's history."""
    out = []
    support = assistant.settings.min_citation_support
    for conversation in conversations:
        history: list[Turn] = []
        for turn in conversation.turns:
            started = time.perf_counter()
            retrieval, answer = _ask(assistant, turn.question, top_k, history, backend)
            elapsed = time.perf_counter() - started
            if turn.gold is not None:
                plain = assistant.retrieve(turn.question, RETRIEVE_K).passages
                result = score(turn.gold, retrieval.passages, answer, elapsed, backend, support)
                out.append(FollowupResult(conversation.id, result,
                                          first_hit_rank(plain, turn.gold)))
            history.append(Turn(turn.question, answer.text, answer.searched_for))
    return out


def followup_metrics(followups: list[FollowupResult]) -> dict[str, float]:
    n = len(followups)
    values = {
        "followups": n,
        "followups_rewritten": sum(f.rewritten for f in followups),
        "followup_rewrite_accuracy": _share(sum(f.result.hit_rank is not None
                                                and f.result.hit_rank <= 5 for f in followups), n),
        "followup_hit_at_5_unrewritten": _share(sum(f.unrewritten_rank is not None
                                                    and f.unrewritten_rank <= 5
                                                    for f in followups), n),
        "followup_citation_hit": _share(sum(f.result.cites_evidence for f in followups), n),
        "followup_keyword_accuracy": _share(sum(f.result.keywords_ok for f in followups), n),
    }
    for name in ("tune", "test"):
        part = [f for f in followups if half(f.conversation) == name]
        values[f"followup_rewrite_accuracy_{name}"] = _share(
            sum(f.result.hit_rank is not None and f.result.hit_rank <= 5 for f in part), len(part))
        values[f"followup_citation_hit_{name}"] = _share(
            sum(f.result.cites_evidence for f in part), len(part))
        values[f"followups_{name}"] = len(part)
    return values


def standalone_rewrites(assistant, questions: list[GoldQuestion], backend: str) -> list[str]:
    """Questions of the main set that a rewrite changes when each is asked after the one before
    it: a question that stands on its own must be searched as asked."""
    changed = []
    for previous, q in zip(questions, questions[1:]):
        history = [Turn(previous.question)]
        if assistant.standalone_question(q.question, history, backend) != " ".join(q.question.split()):
            changed.append(q.id)
    return changed


def table(values: dict[str, float]) -> str:
    rows = [
        ("questions (answerable / unanswerable)",
         f"{values['questions']} ({values['answerable']} / {values['unanswerable']})"),
        ("retrieval hit@1", f"{values['hit_at_1']:.3f}"),
        ("retrieval hit@3", f"{values['hit_at_3']:.3f}"),
        ("retrieval hit@5", f"{values['hit_at_5']:.3f}"),
        ("retrieval MRR@10", f"{values['mrr_at_10']:.3f}"),
        ("answer cites the evidence", f"{values['citation_hit']:.3f}"),
        ("citation precision (supported)", f"{values['citation_precision']:.3f} of {values['citations']}"),
        ("out-of-range citations", f"{values['out_of_range_citations']}"),
        ("keyword accuracy", f"{values['keyword_accuracy']:.3f}"),
        ("abstained on unanswerable", f"{values['abstained_unanswerable']} of {values['unanswerable']}"),
        ("wrong abstentions on answerable", f"{values['wrong_abstentions']} of {values['answerable']}"),
        ("latency p50 / p95 (ms)", f"{values['latency_p50_ms']:.0f} / {values['latency_p95_ms']:.0f}"),
    ]
    if "citation_hit_test" in values:
        rows.insert(7, ("  tune / test: hit@5, cites the evidence, keywords",
                        " · ".join(f"{values[f'hit_at_5_{h}']:.3f} / {values[f'citation_hit_{h}']:.3f}"
                                   f" / {values[f'keyword_accuracy_{h}']:.3f}"
                                   for h in ("tune", "test"))))
        rows.insert(8, ("  tune / test: unanswerable refused, answerable refused",
                        " · ".join(f"{values[f'abstention_rate_{h}']:.3f} / "
                                   f"{values[f'wrong_abstentions_{h}']:.0f}" for h in ("tune", "test"))))
    if "answer_citation_recall" in values:
        rows += [
            ("answer's own citations: recall / precision",
             f"{values['answer_citation_recall']:.3f} / {values['answer_citation_precision']:.3f}"
             f" ({values['judged_answers']} answers)"),
            ("sentences flagged / citations removed by the checker",
             f"{values['flagged_sentences']} / {values['removed_citations']}"),
            ("fallbacks to the extractive answer (server failed)",
             f"{values['fallbacks']} ({values['fallbacks_failed']})"),
        ]
        if values["tokens_in_mean"]:
            rows.append(("tokens per answer, in / out" + ("" if values["tokens_reported_by_server"]
                                                           else " (tiktoken)"),
                         f"{values['tokens_in_mean']:.0f} / {values['tokens_out_mean']:.0f}"))
    if "followups" in values:
        rows += [
            ("follow-ups: evidence in top 5 after rewrite",
             f"{values['followup_rewrite_accuracy']:.3f} of {values['followups']} "
             f"(tune {values['followup_rewrite_accuracy_tune']:.3f}, "
             f"test {values['followup_rewrite_accuracy_test']:.3f}; "
             f"as asked {values['followup_hit_at_5_unrewritten']:.3f})"),
            ("follow-ups: answer cites the evidence",
             f"{values['followup_citation_hit']:.3f} (tune {values['followup_citation_hit_tune']:.3f}"
             f", test {values['followup_citation_hit_test']:.3f}); keywords "
             f"{values['followup_keyword_accuracy']:.3f}"),
            ("standalone questions changed by the rewrite", f"{values['standalone_rewritten']}"),
        ]
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'metric'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def markdown_report(values: dict[str, float], results: list[QuestionResult], title: str) -> str:
    out = [f"# {title}", "", table(values), "", "## By half, language and answer kind", "",
           breakdown_table(breakdown(results)), "", "## Failing questions", ""]
    failing = [r for r in results if _failed(r)]
    if not failing:
        out.append("None.")
    for r in failing:
        q = r.question
        out.append(f"### {q.id}: {q.question}")
        if q.answerable:
            ev = q.evidence[0]
            out.append(f"- expected: `{ev.source}` — “{ev.quote}”")
            out.append(f"- evidence rank: {r.hit_rank or 'not in top 10'}; cited: "
                       f"{'yes' if r.cites_evidence else 'no'}; keywords: "
                       f"{'yes' if r.keywords_ok else 'no'}")
        else:
            out.append("- expected: abstention")
        out.append(f"- answer{' (abstained)' if r.answer.abstained else ''}: {r.answer.text}")
        out.append("- retrieved instead:")
        for rank, p in enumerate(r.retrieved[:5], start=1):
            snippet = normalise(p.text)[:160]
            out.append(f"  {rank}. `{p.source}` ({p.score:.4f}): {snippet}…")
        out.append("")
    return "\n".join(out)


def _failed(r: QuestionResult) -> bool:
    if not r.question.answerable:
        return not r.answer.abstained
    return r.hit_rank is None or r.hit_rank > 5 or not r.cites_evidence or not r.keywords_ok


@dataclass
class EvaluationRun:
    values: dict[str, float]
    results: list[QuestionResult]
    index_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    followups: list[FollowupResult] = field(default_factory=list)


DISTRACTOR_FOLDER = "distractors"


def prepare_distractor_corpus(corpus_dir: Path, distractors: Path, workdir: Path,
                              limit: int | None = None) -> tuple[Path, int]:
    """A corpus folder holding the corpus and, under `distractors/`, the distractor documents.

    `distractors` may be a folder or a .tar.gz archive; `limit` takes an evenly spread subset.
    """
    combined = workdir / "corpus"
    if combined.exists():
        shutil.rmtree(combined)
    combined.mkdir(parents=True)
    for source, path in corpus_files(corpus_dir):
        target = combined / source
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    catalog = corpus_dir / "catalog.toml"
    if catalog.is_file():
        shutil.copy2(catalog, combined / "catalog.toml")
    count = copy_documents(distractors, combined / DISTRACTOR_FOLDER, workdir, limit)
    return combined, count


def holds_distractors(sources: Iterable[str]) -> bool:
    """Whether an index holds documents that `prepare_distractor_corpus` added."""
    return any(source.startswith(f"{DISTRACTOR_FOLDER}/") for source in sources)


def copy_documents(documents: Path, target: Path, workdir: Path, limit: int | None = None) -> int:
    """Copy the readable documents of a folder or .tar.gz archive into `target`, keeping their
    relative paths; `limit` takes an evenly spread subset. Returns how many were copied."""
    if documents.is_file() and documents.name.endswith((".tar.gz", ".tgz", ".tar")):
        unpacked = workdir / f"{documents.name.split('.')[0]}-unpacked"
        if not unpacked.exists():
            with tarfile.open(documents) as archive:
                archive.extractall(unpacked, filter="data")
        documents = unpacked
    if not documents.is_dir():
        raise FileNotFoundError(f"document folder or archive {documents} does not exist")
    files = [(s, p) for s, p in corpus_files(documents) if kind_of(p) is not None]
    if limit is not None and limit < len(files):
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]
    for source, path in files:
        destination = target / source
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return len(files)


def evaluate(settings: Settings, questions_path: Path, corpus_dir: Path | None = None,
             distractors: Path | None = None, distractor_limit: int | None = None,
             index_dir: Path | None = None, top_k: int | None = None,
             followups_path: Path | None = None) -> EvaluationRun:
    """Every question through the configured answer backend (`settings.answer_backend`); with
    `followups_path`, the follow-up conversations too."""
    from .pipeline import Assistant

    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    questions = load_questions(questions_path)
    conversations = load_followups(followups_path) if followups_path else []
    followup_golds = [t.gold for c in conversations for t in c.turns if t.gold]
    problems = check_evidence(questions + followup_golds, corpus_dir)
    if problems:
        raise QuestionSetError("evidence check failed:\n  " + "\n  ".join(problems))
    notes = []
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        if distractors is not None:
            corpus_dir, count = prepare_distractor_corpus(corpus_dir, Path(distractors),
                                                          Path(tmp), distractor_limit)
            notes.append(f"{count} distractor documents indexed alongside the corpus")
            if not index_dir and not settings.index_uri:
                index_dir = Path(tmp) / "index"
        where = {"index_dir": Path(index_dir), "index_uri": ""} if index_dir else {}
        run_settings = settings.model_copy(update={"corpus_dir": corpus_dir, **where})
        assistant = Assistant(run_settings)
        started = time.perf_counter()
        if distractors is not None or not assistant.store.exists():
            report = assistant.index(show_progress=sys.stderr.isatty())
            notes.append(f"index: {report.summary()}")
        if holds_distractors(assistant.snapshot().documents):
            # built now or earlier with the distractors: what one of them answers is answerable
            answered = [q.id for q in questions if q.distractors_answer]
            questions = [q for q in questions if not q.distractors_answer]
            if answered:
                notes.append("left out, as a distractor answers them: " + ", ".join(answered))
        index_seconds = time.perf_counter() - started
        backend = settings.answer_backend
        top_k = top_k or settings.top_k
        results = run_evaluation(assistant, questions, top_k, backend)
        values = {**metrics(results), **halves(results, HALF_METRICS), **backend_metrics(results)}
        followups = run_followups(assistant, conversations, top_k, backend) if conversations else []
        if conversations:
            values.update(followup_metrics(followups))
            changed = standalone_rewrites(assistant, questions, backend)
            values["standalone_rewritten"] = len(changed)
            if changed:
                notes.append("standalone questions changed by the rewrite: " + ", ".join(changed))
    if backend != "extractive":
        notes.append(f"answers by {backend} ({settings.llm_model} at {settings.llm_base_url})")
    return EvaluationRun(values, results, index_seconds, notes, followups)


HALF_METRICS = ["hit_at_5", "mrr_at_10", "citation_hit", "keyword_accuracy", "abstention_rate",
                "wrong_abstentions"]
