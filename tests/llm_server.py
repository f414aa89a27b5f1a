"""A small real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol
(streaming and not) and Ollama's /api/chat, replying as each test scripts it."""

from __future__ import annotations

import json
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


class ScriptedLLMServer:
    def __init__(self) -> None:
        self.reply = Reply()
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
                reply = server.reply
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
                if body.get("stream"):
                    return self._stream(body, reply.text, ollama)
                payload = (_ollama_message(body, reply.text, True) if ollama
                           else _openai_completion(body, reply.text))
                self._send(200, "application/json", json.dumps(payload).encode())

            def _send(self, status, content_type, data):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body, text, ollama):
                self.send_response(200)
                self.send_header("Content-Type",
                                 "application/x-ndjson" if ollama else "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = [w + " " for w in text.split(" ")] if text else []
                for word in words:
                    if ollama:
                        line = json.dumps(_ollama_message(body, word, False)) + "\n"
                    else:
                        line = "data: " + json.dumps(_openai_chunk(body, word)) + "\n\n"
                    self.wfile.write(line.encode())
                    self.wfile.flush()
                end = (json.dumps(_ollama_message(body, "", True)) + "\n" if ollama
                       else "data: " + json.dumps(_openai_chunk(body, None)) + "\n\ndata: [DONE]\n\n")
                self.wfile.write(end.encode())
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "ScriptedLLMServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _openai_completion(body, text):
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _openai_chunk(body, piece):
    delta = {"content": piece} if piece is not None else {}
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "delta": delta,
                         "finish_reason": None if piece is not None else "stop"}]}


def _ollama_message(body, text, done):
    message = {"model": body.get("model", "m"), "created_at": "2026-01-01T00:00:00Z",
               "message": {"role": "assistant", "content": text}, "done": done}
    if done:
        message.update({"done_reason": "stop", "total_duration": 1, "eval_count": 1,
                        "prompt_eval_count": 1})
    return message
