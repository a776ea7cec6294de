"""A minimal OpenAI-compatible chat server on loopback, so the `openai:` provider path is exercised over
real HTTP without leaving the machine. It answers from a scripted function and records every request."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (messages, schema name) -> the JSON object to answer with, or a plain string for unparseable output
Script = Callable[[list[dict[str, Any]], str], dict[str, Any] | str]


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: StubServer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            )
        schema = body.get("response_format", {}).get("json_schema", {}).get("name", "")
        try:
            answer = self.server.script(body["messages"], schema)
        except Exception as exc:  # a broken script is a test bug: answer 500 so it shows, don't hang up
            self.send_error(500, f"stub script failed: {exc!r}")
            return
        content = answer if isinstance(answer, str) else json.dumps(answer)
        tokens = [{"token": ch, "logprob": -0.05, "bytes": None, "top_logprobs": []} for ch in content]
        reply = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                    "logprobs": {"content": tokens} if body.get("logprobs") else None,
                }
            ],
            "usage": {
                "prompt_tokens": 50,
                "completion_tokens": len(tokens),
                "total_tokens": 50 + len(tokens),
            },
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def stub_server(script: Script) -> Iterator[StubServer]:
    server = StubServer(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
