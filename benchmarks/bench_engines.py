"""The embedded store and Milvus Lite side by side, and Ray embedding with 1 and 2 workers.

    python benchmarks/bench_engines.py --distractors ../shared/corpora/sv-gov-distractors.tar.gz \\
        --vectors-from DIR

For each engine: the evaluation on the bundled corpus and with the distractors indexed (hit@1,
hit@5, MRR@10, citation hit, answer latency), the sync of the distractor corpus, adding one
document, and query latency (retrieval and extractive answer, p50/p95) at the distractor size
(about 22k chunks) and at about 100k chunks. Then a Ray build of a slice of the distractors
with 1 and 2 workers on a local Ray cluster.

Embedding is the same code for both engines and dominates a sync; `--vectors-from` takes the
vectors of chunks already embedded in an embedded-store index of the same corpus (e.g. one left
by bench_index.py --index), so that the sync figures are the engines' own work, and the
embedding rate is reported once, measured here on a slice. The 100k-chunk collection is the
distractor corpus copied under other names (embedded once, through the same cache): a latency
figure, not a quality one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import load_settings  # noqa: E402
from assistant.embeddings import create_embedder  # noqa: E402
from assistant.evaluate import (load_questions, metrics, prepare_distractor_corpus,  # noqa: E402
                                run_evaluation)
from assistant.indexer import RayOptions  # noqa: E402
from assistant.ocr_repair import for_search  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.store import IndexStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
FIGURES = ["hit_at_1", "hit_at_5", "mrr_at_10", "citation_hit", "keyword_accuracy",
           "abstention_rate", "wrong_abstentions", "latency_p50_ms", "latency_p95_ms"]
NEW_DOCUMENT = ("Kungsbacka kommun erbjuder samhällsorientering på arabiska, dari och somaliska "
                "varje vecka, med barnpassning under lektionerna.")


class CachedEmbedder:
    """The real embedder, answering for passages it has embedded before from a cache."""

    def __init__(self, embedder, cache: dict[str, tuple[np.ndarray, object]]) -> None:
        self.embedder = embedder
        self.cache = cache
        self.dim, self.id, self.latent_id = embedder.dim, embedder.id, embedder.latent_id
        self.hits = self.misses = 0

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def embed_with_latent(self, texts, is_query):
        if is_query:
            return self.embedder.embed_with_latent(texts, is_query)
        missing = [t for t in texts if _key(t) not in self.cache]
        if missing:
            dense, latent = self.embedder.embed_with_latent(missing, False)
            self.cache.update({_key(t): (d, lv) for t, d, lv in zip(missing, dense, latent)})
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        pairs = [self.cache[_key(t)] for t in texts]
        return np.vstack([d for d, _ in pairs]), [lv for _, lv in pairs]


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def load_cache(index_dir: Path) -> dict:
    snapshot = IndexStore(index_dir).open()
    ids = [int(i) for i in snapshot.chunk_ids]
    cache = {}
    for start in range(0, len(ids), 2000):
        part = ids[start:start + 2000]
        chunks, latent = snapshot.chunks(part), snapshot.latent_terms(part)
        for i in part:
            # keyed by what the indexer embeds: the chunk text, OCR damage repaired
            cache[_key(for_search(chunks[i].text))] = (snapshot.vectors.reconstruct(i),
                                                       latent.get(i))
    return cache


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1)}


def query_latency(assistant: Assistant, questions: list[str], rounds: int = 2) -> dict:
    assistant.snapshot()
    assistant.ask(questions[0])
    times = []
    for _ in range(rounds):
        for q in questions:
            started = time.perf_counter()
            assistant.ask(q)
            times.append(time.perf_counter() - started)
    return {"chunks": len(assistant.snapshot()), **percentiles(times)}


def evaluation(assistant: Assistant, questions) -> dict:
    values = metrics(run_evaluation(assistant, questions, assistant.settings.top_k))
    return {k: round(values[k], 4) for k in FIGURES}


def engine_run(name: str, location: str, embedder, corpus: Path, distractor_corpus: Path,
               scale_corpus: Path | None, questions, workdir: Path) -> dict:
    def assistant_for(corpus_dir: Path, where: str) -> Assistant:
        settings = load_settings(corpus_dir=corpus_dir, index_uri=where)
        return Assistant(settings, embedder=embedder)

    out: dict = {"engine": name}
    bundled = assistant_for(corpus, location.format(n="bundled"))
    started = time.perf_counter()
    bundled.index()
    out["bundled_sync_s"] = round(time.perf_counter() - started, 2)
    out["bundled"] = evaluation(bundled, questions)
    print(name, "bundled", out["bundled"], flush=True)

    with_distractors = assistant_for(distractor_corpus, location.format(n="distractors"))
    started = time.perf_counter()
    report = with_distractors.index()
    out["distractor_sync_s"] = round(time.perf_counter() - started, 1)
    out["distractor_chunks"] = report.total_chunks
    out["distractors"] = evaluation(with_distractors, questions)
    print(name, "distractors", out["distractor_sync_s"], "s", out["distractors"], flush=True)

    added = distractor_corpus / "added-kungsbacka.txt"
    added.write_text(NEW_DOCUMENT, encoding="utf-8")
    started = time.perf_counter()
    with_distractors.index()
    out["add_one_document_s"] = round(time.perf_counter() - started, 2)
    added.unlink()
    with_distractors.index()
    texts = [q.question for q in questions]
    out["query_at_distractors"] = query_latency(with_distractors, texts)
    print(name, "add one", out["add_one_document_s"], "s; queries", out["query_at_distractors"],
          flush=True)

    if scale_corpus is not None:
        at_scale = assistant_for(scale_corpus, location.format(n="scale"))
        started = time.perf_counter()
        at_scale.index()
        out["scale_sync_s"] = round(time.perf_counter() - started, 1)
        out["query_at_scale"] = query_latency(at_scale, texts, rounds=1)
        print(name, "scale", out["scale_sync_s"], "s; queries", out["query_at_scale"], flush=True)
    return out


def make_scale_corpus(distractor_corpus: Path, target: Path, copies: int) -> Path:
    """The distractor corpus plus `copies` - 1 renamed copies of its distractor documents."""
    shutil.copytree(distractor_corpus, target)
    for n in range(1, copies):
        shutil.copytree(distractor_corpus / "distractors", target / f"copy-{n}")
    return target


def ray_run(corpus: Path, workdir: Path, limit_docs: int, distractors: Path) -> dict:
    """Embedding a slice of the distractors here, then with 1 and 2 Ray workers (local
    cluster of 2 CPUs)."""
    import ray  # started by the first Ray build, local, with this machine's CPUs

    slice_corpus, _ = prepare_distractor_corpus(corpus, distractors, workdir / "ray-slice",
                                                limit_docs)
    out = {}
    for label, options in [("here (2 threads)", None), ("ray 1 worker", RayOptions(None, 1)),
                           ("ray 2 workers", RayOptions(None, 2))]:
        settings = load_settings(corpus_dir=slice_corpus,
                                 index_dir=workdir / f"ray-{label.split()[0]}-{label[-9:]}")
        assistant = Assistant(settings)
        started = time.perf_counter()
        report = assistant.index(rebuild=True, ray=options)
        seconds = time.perf_counter() - started
        out[label] = {"chunks": report.embedded_chunks, "seconds": round(seconds, 1),
                      "chunks_per_s": round(report.embedded_chunks / seconds, 2)}
        print("ray", label, out[label], flush=True)
    one, two = out["ray 1 worker"]["chunks_per_s"], out["ray 2 workers"]["chunks_per_s"]
    out["scaling_2_over_1"] = round(two / one, 2)
    ray.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distractors", type=Path, required=True)
    parser.add_argument("--vectors-from", type=Path, help="embedded-store index of the "
                        "distractor corpus whose vectors to reuse")
    parser.add_argument("--scale-copies", type=int, default=5,
                        help="copies of the distractors for the ~100k-chunk figures (0: skip)")
    parser.add_argument("--ray-docs", type=int, default=100,
                        help="distractor documents embedded for the Ray figures (0: skip)")
    parser.add_argument("--engines", default="embedded,milvus-lite",
                        help="comma-separated; empty for the Ray figures alone")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "engines.json")
    args = parser.parse_args()

    corpus = ROOT / "corpus"
    questions = load_questions(QUESTIONS)
    results: dict = {"machine": platform.platform(), "cpus": __import__("os").cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        workdir = Path(tmp)
        embedder = create_embedder(load_settings())
        if args.vectors_from:
            started = time.perf_counter()
            embedder = CachedEmbedder(embedder, load_cache(args.vectors_from))
            print(f"{len(embedder.cache)} cached vectors loaded in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
        distractor_corpus, count = prepare_distractor_corpus(corpus, args.distractors,
                                                             workdir / "d")
        scale = make_scale_corpus(distractor_corpus, workdir / "scale", args.scale_copies) \
            if args.scale_copies > 1 else None
        results["distractor_documents"] = count
        locations = {"embedded": str(workdir / "{n}-index"),
                     "milvus-lite": f"milvus-lite:{workdir}/{{n}}.db"}
        for name in filter(None, args.engines.split(",")):  # "" measures Ray alone
            results[name] = engine_run(name, locations[name], embedder, corpus,
                                       distractor_corpus, scale, questions, workdir)
        if isinstance(embedder, CachedEmbedder):
            results["embedding_cache"] = {"hits": embedder.hits, "misses": embedder.misses}
        if args.ray_docs:
            results["ray"] = ray_run(corpus, workdir, args.ray_docs, args.distractors)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
