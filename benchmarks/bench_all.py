"""The whole benchmark in one command: build, incremental update, query latency, memory.

    python benchmarks/bench_all.py \\
        --distractors ../shared/corpora/sv-gov-distractors.tar.gz \\
        --scale ../shared/corpora/sv-gov-scale.tar.gz

1. this machine's float32 matmul rate (numpy sgemm) and the embedder's share of it;
2. the bundled corpus: build, retrieval and answer latency, serving memory;
3. the bundled corpus + distractors: full build (chunks/s, peak RSS), adding one document (ratio
   to the full build), query latency and serving memory;
4. with --scale, the scale documents added to that index (an incremental build of thousands of
   documents), then query latency and serving memory on distractors + scale;
5. vector and BM25 search alone on a synthetic 100k-chunk index.

Figures go to the console (a table) and to --out as JSON. --limit / --scale-limit take evenly
spread subsets for a quicker run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_index import build_then_add_one, peak_rss_mb, print_flat  # noqa: E402
from bench_query import (  # noqa: E402
    ROOT,
    bundled_figures,
    in_child,
    serve_and_measure,
    sgemm_gflops,
    synthetic_search,
)

from assistant.config import load_settings  # noqa: E402
from assistant.evaluate import copy_documents, load_questions, prepare_distractor_corpus  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distractors", type=Path, required=True,
                        help="folder or .tar.gz of topically close documents")
    parser.add_argument("--scale", type=Path, help="folder or .tar.gz of many more documents")
    parser.add_argument("--limit", type=int, help="an evenly spread subset of the distractors")
    parser.add_argument("--scale-limit", type=int, help="an evenly spread subset of --scale")
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--workdir", type=Path, help="unpack, assemble and index here")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "all.json")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-all-"))
    workdir.mkdir(parents=True, exist_ok=True)
    questions = [q.question for q in load_questions(args.questions)]
    result: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "sgemm_gflops": round(sgemm_gflops(), 1)}}
    result.update(bundled_figures(questions))
    result["embedder"]["share_of_sgemm"] = round(
        result["embedder"]["gflops"] / result["machine"]["sgemm_gflops"], 3)

    corpus, count = prepare_distractor_corpus(ROOT / "corpus", args.distractors, workdir,
                                              args.limit)
    index = workdir / "index"
    result["distractors"] = {"extra_documents": count,
                             **build_then_add_one(corpus, index, workdir)}
    result["query"]["distractors"] = in_child(serve_and_measure, str(index), str(corpus), questions)

    if args.scale:
        added = copy_documents(args.scale, corpus / "scale", workdir, args.scale_limit)
        assistant = Assistant(load_settings(corpus_dir=corpus, index_dir=index))
        started = time.perf_counter()
        report = assistant.index(show_progress=sys.stderr.isatty())
        seconds = time.perf_counter() - started
        result["scale"] = {"documents_added": added, "embedded_chunks": report.embedded_chunks,
                           "total_chunks": report.total_chunks, "update_s": round(seconds, 1),
                           "chunks_per_s": round(report.embedded_chunks / seconds, 1),
                           "peak_rss_mb": peak_rss_mb()}
        result["query"]["distractors+scale"] = in_child(serve_and_measure, str(index),
                                                        str(corpus), questions)
    if args.synthetic:
        result["synthetic"] = synthetic_search(args.synthetic)
    result["peak_rss_mb"] = peak_rss_mb()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), "utf-8")
    print_flat(result)
    print(f"\nwritten to {args.out}; index and documents in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
