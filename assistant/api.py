"""The HTTP API: `python -m assistant serve`. FastAPI over the same Assistant as the CLI and UI.

Every endpoint but /health wants `Authorization: Bearer KEY` (see keys.py): a missing or unknown
key is 401, a role too weak for the endpoint 403, more than `api_rate_limit_per_minute` requests
of one key in a minute 429. Request bodies are bounded (`api_max_body_kb`, uploads by
`max_file_mb`: 413). Responses escape <, > and & inside JSON strings, so document text can never
be read as markup by a careless client. Every change to the corpus is in the audit log.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Iterator

from fastapi import Depends, FastAPI, File, Header, HTTPException, Request, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from .audit import AuditLog
from .config import Settings
from .corpus import CorpusChangeError, add_files, remove_document
from .conversation import HistoryError, parse_history
from .keys import ApiKey, KeyStore, KeyStoreError
from .pipeline import MAX_QUESTION_CHARS, Assistant, clean_question
from .render import answer_json
from .retrieval import SearchFilter
from .index_engine import IndexError_


def safe_json(content) -> str:
    """JSON in which <, > and & inside strings are escaped, so no client can take document text
    for markup."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


class SafeJSONResponse(JSONResponse):
    def render(self, content) -> bytes:
        return safe_json(content).encode("utf-8")


def server_sent_event(event: str, data) -> str:
    return f"event: {event}\ndata: {safe_json(data)}\n\n"


class Filters(BaseModel):
    documents: list[str] = Field(default_factory=list, max_length=1000)
    organisations: list[str] = Field(default_factory=list, max_length=1000)
    years: list[str] = Field(default_factory=list, max_length=1000)


class AskRequest(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    top_k: int | None = Field(None, ge=1, le=50)
    filters: Filters | None = None
    history: list[dict] = Field(default_factory=list, max_length=50)


class RateLimiter:
    """At most `per_minute` requests of one key in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen[key_id]
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return False
            seen.append(now)
            return True


class BodyLimit:
    """Refuse a request body over its limit (413), by its Content-Length or as it arrives."""

    def __init__(self, app, json_limit: int, upload_limit: int) -> None:
        self.app, self.json_limit, self.upload_limit = app, json_limit, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"] == "/documents" and scope["method"] == "POST"
        limit = self.upload_limit if upload else self.json_limit
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            response = SafeJSONResponse({"detail": f"the request body is larger than {limit} bytes"},
                                        status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def bounded():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"the request body is larger than {limit} bytes")
            return message

        return await self.app(scope, bounded, send)


def app_from_environment() -> FastAPI:
    """The app for a uvicorn worker process (`serve --workers N`): settings from the environment."""
    from .config import load_settings

    return create_app(load_settings())


def create_app(settings: Settings, assistant: Assistant | None = None) -> FastAPI:
    assistant = assistant or Assistant(settings)
    keys = KeyStore(Path(settings.state_dir) / "keys.json")
    audit = AuditLog(Path(settings.state_dir) / "audit.log")
    limiter = RateLimiter(settings.api_rate_limit_per_minute)
    corpus_lock = threading.Lock()  # changes to the corpus take turns; questions do not wait
    upload_limit = int(settings.max_file_mb * 1024 * 1024)

    app = FastAPI(title="Integration documents assistant", default_response_class=SafeJSONResponse,
                  description="Questions about integration-policy documents, answered with "
                              "checked citations. Send `Authorization: Bearer KEY`.")
    app.add_middleware(BodyLimit, json_limit=settings.api_max_body_kb * 1024,
                       upload_limit=upload_limit + 64 * 1024)
    if settings.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api_cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])

    def caller(role: str):
        def check(authorization: str | None = Header(None)) -> ApiKey:
            scheme, _, secret = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise HTTPException(401, "an API key is required: Authorization: Bearer KEY",
                                    headers={"WWW-Authenticate": "Bearer"})
            key = keys.verify(secret.strip())
            if key is None:
                raise HTTPException(401, "the API key is not valid",
                                    headers={"WWW-Authenticate": "Bearer"})
            if not key.allows(role):
                raise HTTPException(403, f"a {key.role} key may not do this; it needs {role}")
            if not limiter.allow(key.id):
                raise HTTPException(429, "too many requests for this key; try again in a minute",
                                    headers={"Retry-After": "60"})
            return key
        return check

    @app.exception_handler(KeyStoreError)
    def keys_problem(request: Request, exc: KeyStoreError):
        return SafeJSONResponse({"detail": f"API keys cannot be checked: {exc}"}, status_code=503)

    @app.exception_handler(IndexError_)
    def index_problem(request: Request, exc: IndexError_):
        return SafeJSONResponse({"detail": f"the index cannot be used: {exc}"}, status_code=503)

    @app.get("/health")
    def health() -> dict:
        manifest = assistant.snapshot().manifest
        return {"status": "ok", "documents": manifest.documents, "chunks": manifest.chunks}

    @app.post("/ask")
    def ask(request: AskRequest, http: Request, key: ApiKey = Depends(caller("reader"))):
        """The same object as `python -m assistant ask --json`. With `Accept: text/event-stream`,
        server-sent events: `token` events with a language model's text as it arrives, then one
        `answer` event with the checked answer (or one `error` event)."""
        try:
            history = parse_history(request.history, "history")
            clean_question(request.question)
        except (HistoryError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        chosen = request.filters or Filters()
        search_filter = SearchFilter(frozenset(chosen.documents), frozenset(chosen.organisations),
                                     frozenset(chosen.years))

        # questions run side by side (a model answer streams for seconds); concurrent
        # questions share the embedding model's forward passes (query_encoding.py)
        def answer(on_token=None) -> dict:
            return answer_json(assistant.ask(request.question, top_k=request.top_k,
                                             search_filter=search_filter, history=history,
                                             on_token=on_token))

        if "text/event-stream" in http.headers.get("accept", ""):
            return StreamingResponse(_streamed(answer), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return answer()

    @app.get("/documents")
    def documents(key: ApiKey = Depends(caller("reader"))) -> list[dict]:
        return [{"source": d.source, "title": d.title, "kind": d.kind,
                 "organisation": d.organisation, "year": d.year, "chunks": d.chunks,
                 "sha256": d.sha256, "indexed_at": d.indexed_at}
                for d in sorted(assistant.snapshot().documents.values(), key=lambda d: d.source)]

    @app.post("/documents", status_code=201)
    def add_document(file: UploadFile = File(...), key: ApiKey = Depends(caller("editor"))) -> dict:
        """Upload one file (field `file`) into the corpus folder, then an incremental sync."""
        data = file.file.read(upload_limit + 1)
        try:
            with corpus_lock:
                added, report = add_files(assistant, [(file.filename or "", data)], key.name, audit)
        except CorpusChangeError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        if added[0].problem:
            raise HTTPException(422, f"{added[0].name} could not be added: {added[0].problem}")
        return {"source": added[0].stored, "created": added[0].created, "index": report.as_json()}

    @app.delete("/documents/{source:path}")
    def remove(source: str, key: ApiKey = Depends(caller("editor"))) -> dict:
        """Remove an indexed document (by its `source` from GET /documents) and sync."""
        try:
            with corpus_lock:
                report = remove_document(assistant, source, key.name, audit)
        except CorpusChangeError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return {"source": source, "index": report.as_json()}

    @app.get("/audit")
    def audit_log(key: ApiKey = Depends(caller("admin"))) -> list[dict]:
        return audit.entries()

    return app


def _streamed(answer) -> Iterator[str]:
    """Run `answer(on_token)` in a thread and pass its tokens on as they come."""
    pieces: queue.Queue = queue.Queue()
    result: dict = {}

    def work() -> None:
        try:
            result["answer"] = answer(on_token=lambda piece: pieces.put(piece))
        except Exception as exc:  # reported to the client as an event, not a broken stream
            result["error"] = str(exc) if isinstance(exc, (ValueError, IndexError_)) else \
                f"the answer failed ({type(exc).__name__})"
        finally:
            pieces.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (piece := pieces.get()) is not None:
        yield server_sent_event("token", {"text": piece})
    if "error" in result:
        yield server_sent_event("error", {"detail": result["error"]})
    else:
        yield server_sent_event("answer", result["answer"])
