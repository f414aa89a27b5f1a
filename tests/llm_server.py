"""A small real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol
(streaming and not) and Ollama's /api/chat, replying as each test scripts it.

A reply may cite by content: `{cite:PHRASE}` becomes the number of the first passage in the
request that contains PHRASE, `{other:PHRASE}` the first that does not, so a scripted model can
cite rightly or wrongly wherever retrieval ranked the passage. `script` picks a reply by a text
found in the question, `condense` likewise for requests to rewrite a follow-up question. With
`required_key` set, a request without `Authorization: Bearer <key>` gets HTTP 401.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    garbage: bool = False
    delay_s: float = 0.0
    word_delay_s: float = 0.0  # a slow stream: the pause before each word


_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>(.*?)</passage>', re.DOTALL)
_PLACEHOLDER = re.compile(r"\{(cite|other):([^}]+)\}")


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def fill_citations(text: str, user_message: str) -> str:
    passages = [(n, _flat(body)) for n, body in _PASSAGE.findall(user_message)]

    def number(match: re.Match) -> str:
        phrase = _flat(match.group(2))
        wanted = match.group(1) == "cite"
        for n, body in passages:
            if (phrase in body) == wanted:
                return n
        return "99"

    return _PLACEHOLDER.sub(number, text)


def question_of(user_message: str) -> str:
    return user_message.rsplit("Question:", 1)[-1]


class ScriptedLLMServer:
    def __init__(self, required_key: str | None = None) -> None:
        self.reply = Reply()
        self.script: dict[str, Reply] = {}
        self.condense: dict[str, Reply] = {}
        self.required_key = required_key
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing left to tell it

            def _answer(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body,
                                        "headers": dict(self.headers)})
                messages = body.get("messages") or [{}]
                user = str(messages[-1].get("content", ""))
                reply = server.choose(messages)
                if (server.required_key and self.headers.get("Authorization")
                        != f"Bearer {server.required_key}"):
                    reply = Reply(status=401)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status != 200:
                    message = {401: "Invalid API key", 404: f"model '{body.get('model')}' not found"}
                    payload = ({"error": message.get(reply.status, "error")}
                               if self.path.startswith("/api/") else
                               {"error": {"message": message.get(reply.status, "error"),
                                          "type": "invalid_request_error", "code": reply.status}})
                    return self._send(reply.status, "application/json", json.dumps(payload).encode())
                if reply.garbage:
                    return self._send(200, "application/json", b"<html>this is not json")
                ollama = self.path.startswith("/api/chat")
                text = fill_citations(reply.text, user)
                if body.get("stream"):
                    return self._stream(body, text, ollama, reply.word_delay_s)
                payload = (_ollama_message(body, text, True) if ollama
                           else _openai_completion(body, text))
                self._send(200, "application/json", json.dumps(payload).encode())

            def _send(self, status, content_type, data):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body, text, ollama, word_delay_s=0.0):
                self.send_response(200)
                self.send_header("Content-Type",
                                 "application/x-ndjson" if ollama else "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = [w + " " for w in text.split(" ")] if text else []
                for word in words:
                    time.sleep(word_delay_s)
                    if ollama:
                        line = json.dumps(_ollama_message(body, word, False)) + "\n"
                    else:
                        line = "data: " + json.dumps(_openai_chunk(body, word)) + "\n\n"
                    self.wfile.write(line.encode())
                    self.wfile.flush()
                if ollama:
                    end = json.dumps(_ollama_message(body, "", True, text)) + "\n"
                else:
                    end = "data: " + json.dumps(_openai_chunk(body, None)) + "\n\n"
                    if (body.get("stream_options") or {}).get("include_usage"):
                        usage = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                                 "created": 0, "model": body.get("model", "m"), "choices": [],
                                 "usage": _usage(body, text)}
                        end += "data: " + json.dumps(usage) + "\n\n"
                    end += "data: [DONE]\n\n"
                self.wfile.write(end.encode())
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def choose(self, messages: list[dict]) -> Reply:
        system = str(messages[0].get("content", "")) if messages else ""
        user = str(messages[-1].get("content", "")) if messages else ""
        table = self.condense if "standalone question" in system else self.script
        asked = question_of(user)
        for key, reply in table.items():
            if key in asked:
                return reply
        return self.reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "ScriptedLLMServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def prompt_tokens(body) -> int:
    """The token count this server reports for a request: its words (a stand-in tokenizer)."""
    return sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))


def _usage(body, text):
    prompt, completion = prompt_tokens(body), len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _openai_completion(body, text):
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": _usage(body, text)}


def _openai_chunk(body, piece):
    delta = {"content": piece} if piece is not None else {}
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "delta": delta,
                         "finish_reason": None if piece is not None else "stop"}]}


def _ollama_message(body, text, done, full_text=None):
    message = {"model": body.get("model", "m"), "created_at": "2026-01-01T00:00:00Z",
               "message": {"role": "assistant", "content": text}, "done": done}
    if done:
        answered = text if full_text is None else full_text
        message.update({"done_reason": "stop", "total_duration": 1,
                        "eval_count": len(answered.split()),
                        "prompt_eval_count": prompt_tokens(body)})
    return message
