"""What the loopback servers of the providers' own wire protocols share (Anthropic's Messages API,
Gemini's generateContent, Ollama's /api/chat): a server that answers from a script and records every
request, so the real integration packages are exercised over HTTP without leaving the machine.

A script takes the question as OpenAI-style turns (`{"role", "content"}`, the text the model reads) and
the name of the asked schema (always "" here), as `tests.support.openai_stub`'s do, and returns the
answer's text, or a `Reply` whose first token's alternatives a protocol with token probabilities sends.
The endpoint check's one question (`prompts/probe.toml`) is answered "A" and kept apart in
`probe_requests`. A script's answer to a question whose answer is forced onto a schema is put in that
schema's shape (`filled`), as a model constrained to it would answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.support.fakes import Reply
from tests.support.openai_stub import is_probe

Script = Callable[[list[dict[str, Any]], str], "str | Reply"]


class WireServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], script: Script) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.script = script
        self.requests: list[dict[str, Any]] = []
        """Every question but the probe: path, headers (lower-case names) and JSON body."""
        self.probe_requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class WireHandler(BaseHTTPRequestHandler):
    server: WireServer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def read_json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        return body

    def answer(self, body: dict[str, Any], turns: list[dict[str, Any]]) -> Reply:
        """The script's answer to `turns`, the request recorded (the probe apart)."""
        request = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        with self.server.lock:
            (self.server.probe_requests if is_probe(turns) else self.server.requests).append(request)
        if is_probe(turns):
            return Reply("A", {"A": 0.9, "B": 0.1})
        answer = self.server.script(turns, "")
        return answer if isinstance(answer, Reply) else Reply(answer)

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def filled(text: str, schema: dict[str, Any]) -> Any:
    """The answer `text` in the shape of a constrained answer's `schema`: the string itself for an enum;
    for an object, its `answer`, and with a `confidence` (confidence="verbalized") the number a stating
    script's text gives after the word ("B 80%")."""
    if schema.get("type") != "object":
        return text
    word, _, rest = text.partition(" ")
    if "confidence" not in schema["properties"]:
        return {"answer": text}
    return {"answer": word, "confidence": float(rest.rstrip("%"))}


S = TypeVar("S", bound=WireServer)


@contextmanager
def serving(server: S) -> Iterator[S]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
