"""Compare a language model's cited answers with the extractive ones, on the gold questions.

    python benchmarks/bench_llm.py URL MODEL [--backend openai|ollama] [--index DIR]
                                             [--questions FILE] [--followups FILE] [--out FILE]

URL is an OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, Azure OpenAI, OpenAI:
e.g. http://localhost:8000/v1) or, with --backend ollama, an Ollama server
(http://localhost:11434). A key, where the server wants one, is read from ASSISTANT_LLM_API_KEY.
Both answer backends run the same evaluation (`python -m assistant eval`) over the same index:
retrieval, whether the answer cites the evidence, keyword accuracy, abstention, follow-up
conversations, the answers' own citation recall and precision (ALCE-style), what the checker
flagged or removed, fallbacks to the extractive answer, tokens and latency. Prints a Markdown
table and writes it, with every figure and each model answer, to JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import load_settings  # noqa: E402
from assistant.evaluate import evaluate  # noqa: E402

ROWS = [
    ("retrieval hit@5", "hit_at_5", "{:.3f}"),
    ("answer cites the evidence", "citation_hit", "{:.3f}"),
    ("keyword accuracy", "keyword_accuracy", "{:.3f}"),
    ("answer's own citations: recall", "answer_citation_recall", "{:.3f}"),
    ("answer's own citations: precision", "answer_citation_precision", "{:.3f}"),
    ("checked citations supported", "citation_precision", "{:.3f}"),
    ("sentences flagged by the checker", "flagged_sentences", "{:.0f}"),
    ("citations removed (no such passage)", "removed_citations", "{:.0f}"),
    ("fallbacks to the extractive answer", "fallbacks", "{:.0f}"),
    ("  of which the server failed", "fallbacks_failed", "{:.0f}"),
    ("abstained on unanswerable", "abstention_rate", "{:.3f}"),
    ("wrong abstentions on answerable", "wrong_abstentions", "{:.0f}"),
    ("follow-ups: evidence in top 5", "followup_rewrite_accuracy", "{:.3f}"),
    ("follow-ups: answer cites the evidence", "followup_citation_hit", "{:.3f}"),
    ("tokens per answer, in", "tokens_in_mean", "{:.0f}"),
    ("tokens per answer, out", "tokens_out_mean", "{:.0f}"),
    ("latency p50 (ms)", "latency_p50_ms", "{:.0f}"),
    ("latency p95 (ms)", "latency_p95_ms", "{:.0f}"),
]


def comparison_table(columns: dict[str, dict[str, float]]) -> str:
    names = list(columns)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, key, fmt in ROWS:
        cells = [fmt.format(columns[n][key]) if key in columns[n] else "–" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the model server's base URL")
    parser.add_argument("model", help="the model's name on that server")
    parser.add_argument("--backend", choices=["openai", "ollama"], default="openai")
    parser.add_argument("--index", type=Path, help="index folder (default: index/, built if missing)")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/)")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--followups", type=Path, default=ROOT / "eval" / "followups.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "llm.json")
    args = parser.parse_args(argv)

    columns: dict[str, dict[str, float]] = {}
    questions: dict[str, list[dict]] = {}
    for backend in ("extractive", args.backend):
        settings = load_settings(answer_backend=backend, llm_base_url=args.url,
                                 llm_model=args.model, corpus_dir=args.corpus,
                                 index_dir=args.index)
        started = time.perf_counter()
        run = evaluate(settings, args.questions, index_dir=args.index,
                       followups_path=args.followups if args.followups.is_file() else None)
        name = "extractive" if backend == "extractive" else f"{backend}: {args.model}"
        columns[name] = run.values
        questions[name] = [r.as_json() for r in run.results] + [f.as_json() for f in run.followups]
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for note in run.notes:
            print(f"  {note}", file=sys.stderr)
    table = comparison_table(columns)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"url": args.url, "model": args.model, "table": table,
                                    "metrics": columns, "questions": questions},
                                   ensure_ascii=False, indent=2), "utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
