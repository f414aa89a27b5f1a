"""Evaluation over a gold question set: does retrieval find, and does the answer cite, the passage
that holds the evidence? Does the assistant abstain when the documents have no answer?"""

from __future__ import annotations

import json
import sys
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
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


class QuestionSetError(ValueError):
    pass


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def load_questions(path: Path) -> list[GoldQuestion]:
    questions: list[GoldQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            answerable = bool(raw["answerable"])
            evidence = []
            if answerable:
                evidence.append(Evidence(raw["source"], raw["evidence"]))
                evidence += [Evidence(a["source"], a["evidence"]) for a in raw.get("also", [])]
            q = GoldQuestion(id=str(raw["id"]), question=raw["question"], answerable=answerable,
                             evidence=evidence, keywords=raw.get("keywords") or [],
                             language=raw.get("language"))
        except (ValueError, KeyError, TypeError) as exc:
            raise QuestionSetError(f"{path}:{number}: not a valid question ({exc})") from exc
        if q.id in seen:
            raise QuestionSetError(f"{path}:{number}: duplicate id {q.id}")
        if answerable and not all(e.source and e.quote for e in evidence):
            raise QuestionSetError(f"{path}:{number}: answerable question without evidence")
        seen.add(q.id)
        questions.append(q)
    return questions


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

    def as_json(self) -> dict:
        return {
            "id": self.question.id,
            "question": self.question.question,
            "answerable": self.question.answerable,
            "retrieved": [{"source": p.source, "text": p.text, "score": round(p.score, 6)}
                          for p in self.retrieved],
            "answer": self.answer.text,
            "abstained": self.answer.abstained,
            "citations": [{"n": c.n, "source": c.passage.source if c.passage else None,
                           "text": c.passage.text if c.passage else None,
                           "supported": c.supported} for c in self.answer.citations],
            "hit_rank": self.hit_rank,
            "cites_evidence": self.cites_evidence,
            "keywords_ok": self.keywords_ok,
            "seconds": round(self.seconds, 4),
        }


def score(question: GoldQuestion, retrieved: list[Passage], answer: Answer,
          seconds: float) -> QuestionResult:
    result = QuestionResult(question, retrieved, answer, seconds)
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
                    "citation_precision", "keyword_accuracy", "abstention_rate"]
LOWER_IS_BETTER = ["out_of_range_citations", "wrong_abstentions", "latency_p50_ms"]


def failed_thresholds(values: dict[str, float], minimums: dict[str, float],
                      maximums: dict[str, float]) -> list[str]:
    failures = [f"{k} = {values[k]:.3f} < {v}" for k, v in minimums.items() if values[k] < v]
    failures += [f"{k} = {values[k]:.3f} > {v}" for k, v in maximums.items() if values[k] > v]
    return failures


def run_evaluation(assistant, questions: list[GoldQuestion], top_k: int) -> list[QuestionResult]:
    results = []
    assistant.snapshot()  # load before timing
    for q in questions:
        started = time.perf_counter()
        retrieval = assistant.retrieve(q.question, max(RETRIEVE_K, top_k))
        answer = assistant.answer(retrieval, top_k)
        elapsed = time.perf_counter() - started
        results.append(score(q, retrieval.passages, answer, elapsed))
    return results


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
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'metric'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def markdown_report(values: dict[str, float], results: list[QuestionResult], title: str) -> str:
    out = [f"# {title}", "", table(values), "", "## Failing questions", ""]
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
    count = copy_documents(distractors, combined / "distractors", workdir, limit)
    return combined, count


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
             index_dir: Path | None = None, top_k: int | None = None) -> EvaluationRun:
    from .pipeline import Assistant

    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    questions = load_questions(questions_path)
    problems = check_evidence(questions, corpus_dir)
    if problems:
        raise QuestionSetError("evidence check failed:\n  " + "\n  ".join(problems))
    notes = []
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        if distractors is not None:
            corpus_dir, count = prepare_distractor_corpus(corpus_dir, Path(distractors),
                                                          Path(tmp), distractor_limit)
            notes.append(f"{count} distractor documents indexed alongside the corpus")
            index_dir = Path(index_dir) if index_dir else Path(tmp) / "index"
        run_settings = settings.model_copy(update={
            "corpus_dir": corpus_dir,
            "index_dir": Path(index_dir) if index_dir else settings.index_dir,
        })
        assistant = Assistant(run_settings)
        started = time.perf_counter()
        if distractors is not None or not assistant.store.exists():
            report = assistant.index(show_progress=sys.stderr.isatty())
            notes.append(f"index: {report.summary()}")
        index_seconds = time.perf_counter() - started
        results = run_evaluation(assistant, questions, top_k or settings.top_k)
    return EvaluationRun(metrics(results), results, index_seconds, notes)
