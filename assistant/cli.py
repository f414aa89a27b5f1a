"""`python -m assistant index | ask | eval`: a thin shell over the package."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .catalog import CatalogError
from .config import ConfigError, load_settings
from .conversation import HistoryError, load_history
from .embeddings import EmbedderError
from .keys import KeyStoreError
from .ray_embedding import RayEmbeddingError
from .evaluate import QuestionSetError
from .index_engine import IndexError_


DEFAULT_FOLLOWUPS = Path("eval/followups.jsonl")


def _settings(args: argparse.Namespace):
    return load_settings(
        corpus_dir=getattr(args, "corpus", None),
        index_dir=getattr(args, "index", None),
        index_uri=getattr(args, "index_uri", None),
        top_k=getattr(args, "top_k", None),
        answer_backend=getattr(args, "backend", None),
        llm_base_url=getattr(args, "llm_base_url", None),
        llm_model=getattr(args, "llm_model", None),
    )


def cmd_index(args: argparse.Namespace) -> int:
    from .indexer import RayOptions
    from .pipeline import Assistant

    if args.ray_workers is not None and args.ray is None:
        raise ValueError("--ray-workers needs --ray")
    ray = RayOptions(args.ray or None, args.ray_workers) if args.ray is not None else None
    assistant = Assistant(_settings(args))
    report = assistant.index(rebuild=args.rebuild, ray=ray,
                             show_progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for skipped in report.skipped:
            print(f"skipped {skipped['path']}: {skipped['reason']}", file=sys.stderr)
        print(report.summary())
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import Assistant, clean_question
    from .render import answer_json, answer_text

    clean_question(args.question)  # a bad question or history fails before any index work
    history = load_history(args.history) if args.history else []
    assistant = Assistant(_settings(args))
    report = assistant.ensure_index(show_progress=sys.stderr.isatty())
    if report is not None:
        print(f"built the index: {report.summary()}", file=sys.stderr)
    answer = assistant.ask(args.question, top_k=args.top_k, history=history)
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
    else:
        bold = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("*", "*")
        print(answer_text(answer, emphasis=bold))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import (HIGHER_IS_BETTER, LOWER_IS_BETTER, breakdown, evaluate,
                           failed_thresholds, markdown_report, table)

    settings = _settings(args)
    followups = args.followups
    if followups == DEFAULT_FOLLOWUPS and not followups.is_file():
        followups = None  # a checkout without the set; a named file must exist
    run = evaluate(settings, args.questions, corpus_dir=args.corpus, distractors=args.distractors,
                   distractor_limit=args.distractor_limit, index_dir=args.index, top_k=args.top_k,
                   followups_path=None if args.no_followups else followups)
    for note in run.notes:
        print(note, file=sys.stderr)
    print(table(run.values))
    if args.json:
        payload = {"metrics": run.values, "notes": run.notes,
                   "breakdown": breakdown(run.results),
                   "questions": [r.as_json() for r in run.results],
                   "followups": [f.as_json() for f in run.followups]}
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2), "utf-8")
    if args.report:
        title = "Evaluation" + (f" with distractors from {args.distractors}" if args.distractors else "")
        args.report.write_text(markdown_report(run.values, run.results, title), "utf-8")
    minimums = {m: getattr(args, f"min_{m}") for m in HIGHER_IS_BETTER
                if getattr(args, f"min_{m}") is not None}
    maximums = {m: getattr(args, f"max_{m}") for m in LOWER_IS_BETTER
                if getattr(args, f"max_{m}") is not None}
    failures = failed_thresholds(run.values, minimums, maximums)
    for failure in failures:
        print(f"threshold not met: {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .api import create_app
    from .pipeline import Assistant

    settings = _settings(args)
    assistant = Assistant(settings)
    report = assistant.ensure_index(show_progress=sys.stderr.isatty())
    if report is not None:
        print(f"built the index: {report.summary()}", file=sys.stderr)
    print(f"serving on http://{args.host}:{args.port} (OpenAPI docs at /docs)", file=sys.stderr)
    if args.workers == 1:
        uvicorn.run(create_app(settings, assistant), host=args.host, port=args.port,
                    log_level="info")
        return 0
    # worker processes read their settings from the environment: pass the flags on that way
    for name, value in (("CORPUS_DIR", args.corpus), ("INDEX_DIR", args.index)):
        if value is not None:
            os.environ[f"ASSISTANT_{name}"] = str(value.resolve())
    if args.index_uri:
        os.environ["ASSISTANT_INDEX_URI"] = args.index_uri
    uvicorn.run("assistant.api:app_from_environment", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level="info")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from pathlib import Path as _Path

    from .keys import KeyStore

    store = KeyStore(_Path(_settings(args).state_dir) / "keys.json")
    if args.action == "create":
        record, secret = store.create(args.role, args.name)
        print(f"created {record.role} key {record.id} ({record.name}); it is shown once, only "
              "its hash is stored:", file=sys.stderr)
        print(secret)
    elif args.action == "list":
        for key in store.list():
            state = "revoked" if key.revoked else "active"
            print(f"{key.id}  {key.role:<6}  {state:<7}  {key.created}  {key.name}")
    else:
        record = store.revoke(args.key)
        print(f"revoked {record.role} key {record.id} ({record.name})")
    return 0


def _backend_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["extractive", "openai", "ollama"],
                   help="answer backend (default: extractive, or ASSISTANT_ANSWER_BACKEND)")
    p.add_argument("--llm-base-url", help="LLM server URL, e.g. http://localhost:11434")
    p.add_argument("--llm-model", help="LLM model name on that server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m assistant",
        description="Ask questions about integration-policy documents; answers cite their sources.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="bring the index in line with the corpus folder")
    p.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--index", type=Path, help="index folder (default: index/)")
    p.add_argument("--index-uri", metavar="URI", help="index in Milvus: milvus-lite:PATH or "
                   "http(s)://HOST:19530 (or a folder); overrides --index")
    p.add_argument("--rebuild", action="store_true", help="start over instead of updating")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="embed with Ray workers: a cluster's address (HOST:PORT or "
                   "ray://HOST:10001), or none to start a local one (pip install -r "
                   "requirements-scale.txt)")
    p.add_argument("--ray-workers", type=int, metavar="N",
                   help="Ray workers, one model each (default: one per CPU of the cluster)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--corpus", type=Path, help="corpus folder used if the index must be built")
    p.add_argument("--index", type=Path, help="index folder (default: index/)")
    p.add_argument("--index-uri", metavar="URI", help="index in Milvus: milvus-lite:PATH or "
                   "http(s)://HOST:19530 (or a folder); overrides --index")
    p.add_argument("--top-k", type=int, help="passages to retrieve (default 5)")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument("--history", type=Path, metavar="FILE",
                   help='earlier turns as a JSON list of {"question": …, "answer": …}; a '
                        "follow-up question is read in their light")
    _backend_arguments(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="serve the HTTP API (OpenAPI docs at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes, each with its own model (default 1; the rate limit "
                        "then applies per worker)")
    p.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--index", type=Path, help="index folder (default: index/)")
    p.add_argument("--index-uri", metavar="URI", help="index in Milvus: milvus-lite:PATH or "
                   "http(s)://HOST:19530 (or a folder); overrides --index")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keys", help="create, list or revoke API keys")
    keys = p.add_subparsers(dest="action", required=True)
    k = keys.add_parser("create", help="a new key, printed once as the last line")
    k.add_argument("--role", required=True, choices=["reader", "editor", "admin"])
    k.add_argument("--name", help="who or what the key is for")
    keys.add_parser("list", help="the keys (never their secrets)")
    k = keys.add_parser("revoke", help="revoke a key by its id or name")
    k.add_argument("key")
    p.set_defaults(func=cmd_keys)

    from .evaluate import HIGHER_IS_BETTER, LOWER_IS_BETTER

    p = sub.add_parser("eval", help="measure retrieval, citations and abstention on gold questions")
    p.add_argument("--questions", type=Path, default=Path("eval/questions.jsonl"))
    p.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--index", type=Path, help="index folder (default: index/, or a temporary "
                   "one with --distractors)")
    p.add_argument("--index-uri", metavar="URI", help="index in Milvus: milvus-lite:PATH or "
                   "http(s)://HOST:19530 (or a folder); overrides --index")
    p.add_argument("--distractors", type=Path,
                   help="folder or .tar.gz of documents to index alongside the corpus")
    p.add_argument("--distractor-limit", type=int, help="use an evenly spread subset of N")
    p.add_argument("--top-k", type=int, help="passages shown with each answer (default 5)")
    p.add_argument("--followups", type=Path, default=DEFAULT_FOLLOWUPS,
                   help="follow-up conversations to evaluate (default: eval/followups.jsonl)")
    p.add_argument("--no-followups", action="store_true", help="skip the follow-up conversations")
    _backend_arguments(p)
    p.add_argument("--json", type=Path, help="write metrics and per-question results here")
    p.add_argument("--report", type=Path, help="write a Markdown report of failures here")
    for metric in HIGHER_IS_BETTER:
        p.add_argument(f"--min-{metric.replace('_', '-')}", dest=f"min_{metric}", type=float,
                       metavar="VALUE", help=f"fail unless {metric} >= VALUE")
    for metric in LOWER_IS_BETTER:
        p.add_argument(f"--max-{metric.replace('_', '-')}", dest=f"max_{metric}", type=float,
                       metavar="VALUE", help=f"fail unless {metric} <= VALUE")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, CatalogError, QuestionSetError, EmbedderError, IndexError_, HistoryError,
            KeyStoreError, RayEmbeddingError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
