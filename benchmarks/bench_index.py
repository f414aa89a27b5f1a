"""Index build benchmark: a full build of a corpus, then adding one document to it.

    python benchmarks/bench_index.py ../shared/corpora/sv-gov-distractors.tar.gz --out results.json

The corpus is the bundled corpus plus the given folder or archive of documents (one of which is
held back); the script times a full build, then adding the held-back document, and prints both
with their ratio and the build's peak resident memory. Pass --index to keep the built index for
later runs (e.g. the evaluation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import load_settings  # noqa: E402
from assistant.evaluate import prepare_distractor_corpus  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the process's own memory map; ru_maxrss is not used where VmHWM
    exists because a child started by fork + exec inherits its parent's figure in it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build_then_add_one(corpus: Path, index: Path, workdir: Path) -> dict:
    """Full build of `corpus` without its last extra document, then the update that adds it."""
    held = sorted((corpus / "distractors").rglob("*.txt"))[-1]
    held_back = workdir / "held-back.txt"
    shutil.move(held, held_back)
    assistant = Assistant(load_settings(corpus_dir=corpus, index_dir=index))
    started = time.perf_counter()
    full = assistant.index(rebuild=True, show_progress=sys.stderr.isatty())
    full_s = time.perf_counter() - started
    build_rss = peak_rss_mb()

    shutil.copy2(held_back, held)
    started = time.perf_counter()
    one = assistant.index()
    one_s = time.perf_counter() - started
    return {
        "documents": len(full.added),
        "chunks": full.total_chunks,
        "full_build_s": round(full_s, 2),
        "chunks_per_s": round(full.total_chunks / full_s, 1),
        "skipped": len(full.skipped),
        "build_peak_rss_mb": build_rss,
        "add_one_document_s": round(one_s, 3),
        "add_one_embedded_chunks": one.embedded_chunks,
        "add_one_ratio": round(one_s / full_s, 5),
    }


def print_flat(result: dict, prefix: str = "") -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print_flat(value, f"{prefix}{key}.")
        else:
            print(f"{prefix}{key}".ljust(44), value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("documents", type=Path, help="folder or .tar.gz of extra documents")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--limit", type=int, help="use an evenly spread subset of N documents")
    parser.add_argument("--index", type=Path, help="keep the built index here")
    parser.add_argument("--workdir", type=Path, help="unpack and assemble the corpus here")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/index.json"))
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-index-"))
    workdir.mkdir(parents=True, exist_ok=True)
    corpus, count = prepare_distractor_corpus(args.corpus, args.documents, workdir, args.limit)
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
              "extra_documents": count,
              **build_then_add_one(corpus, args.index or workdir / "index", workdir)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), "utf-8")
    print_flat(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
