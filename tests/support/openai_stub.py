"""A minimal OpenAI-compatible chat server on loopback, so the `openai:` provider path is exercised over
real HTTP without leaving the machine. It answers from a scripted function and records every request.

It can also misbehave on schedule, the way real endpoints do: `faults` maps a request's number (0-based,
in arrival order) to a `Fault`, or is a function of (number, request body) returning one or None.
`GET /models` (mbre's check of the endpoint before a run) lists the stub's model, or answers with the
`models` fault; those requests are kept apart, in `model_requests`, and so is the endpoint check's one
question (`prompts/probe.toml`), answered "A", in `probe_requests`. With `logprobs=False` the stub gives
no token probabilities even when asked, as many hosted OpenAI-compatible endpoints do. Like most
OpenAI-compatible servers it has no tokenizer endpoints: any other POST (llama.cpp's `/apply-template`,
which mbre tries when it counts prompt tokens) is a 404, kept apart in `other_requests`..

For throughput benches it can act like a busy server: `latency` seconds per answer, at most `slots`
answered at once (the others wait their turn, as in a server's batch), connections kept alive."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from mbre.prompts.render import probe_messages
from tests.support.fakes import Reply

# (messages, schema name) -> the JSON object to answer with, or a plain string (or a Reply) for the text
Script = Callable[[list[dict[str, Any]], str], dict[str, Any] | str | Reply]

FaultKind = Literal["rate_limited", "server_error", "reset", "stall", "malformed", "bad_request", "html"]


@dataclass(frozen=True)
class Fault:
    """One injected failure.

    - `rate_limited`: HTTP `status` (429) with `retry_after` / `retry_after_ms` headers when given;
    - `server_error`: HTTP `status` (500, or e.g. 503);
    - `reset`: the connection is reset without any response;
    - `stall`: nothing is sent for `seconds` (longer than the client's timeout), then the connection closes;
    - `malformed`: a 200 whose completion content is cut off half-way;
    - `bad_request`: HTTP `status` (400) with an OpenAI-style error carrying `message`;
    - `html`: a 200 whose body is a web page, as a wrong base_url gets.
    """

    kind: FaultKind
    status: int | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    seconds: float = 5.0
    message: str = "injected fault"


_DEFAULT_STATUS = {"rate_limited": 429, "server_error": 500, "bad_request": 400}
Faults = Mapping[int, Fault] | Callable[[int, dict[str, Any]], Fault | None]


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        script: Script,
        faults: Faults | None = None,
        models: Fault | None = None,
        latency: float = 0.0,
        slots: int | None = None,
        keep_alive: bool = False,
        logprobs: bool = True,
    ):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.slots = threading.BoundedSemaphore(slots) if slots else None
        if keep_alive:  # HTTP/1.1: a client's connection serves its next requests, as a real server's does
            self.RequestHandlerClass = _KeepAliveHandler
        self.script = script
        self.logprobs = logprobs
        self.probe_requests: list[dict[str, Any]] = []
        self.faults = faults
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.model_requests: list[dict[str, Any]] = []
        self.other_requests: list[str] = []
        self.injected: Counter[FaultKind] = Counter()
        """Faults injected so far, by kind."""
        self.lock = threading.Lock()
        self.closing = threading.Event()  # cuts stalls short when the server shuts down

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def fault_for(self, number: int, body: dict[str, Any]) -> Fault | None:
        if self.faults is None:
            return None
        if callable(self.faults):
            return self.faults(number, body)
        return self.faults.get(number)


class _Handler(BaseHTTPRequestHandler):
    server: StubServer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.model_requests.append(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
            )
        if self.server.models is not None:
            self._misbehave(self.server.models)
        elif self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            with self.server.lock:
                self.server.other_requests.append(self.path)
            self.send_error(404)
            return
        if is_probe(body["messages"]):
            with self.server.lock:
                self.server.probe_requests.append({"path": self.path, "body": body})
            self._send_json(200, _completion(body, "A", self.server.logprobs))
            return
        with self.server.lock:
            number = len(self.server.requests)
            self.server.requests.append(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            )
        fault = self.server.fault_for(number, body)
        if fault is not None:
            with self.server.lock:
                self.server.injected[fault.kind] += 1
                self.server.requests[number]["fault"] = fault.kind
            if fault.kind != "malformed":
                self._misbehave(fault)
                return
        schema = body.get("response_format", {}).get("json_schema", {}).get("name", "")
        try:
            answer = self._answer(body["messages"], schema)
        except Exception as exc:  # a broken script is a test bug: answer 500 so it shows, don't hang up
            self.send_error(500, f"stub script failed: {exc!r}")
            return
        if isinstance(
            answer, Reply
        ):  # a sampling script's answer: its text (this stub sends its own alternatives)
            answer = answer.text
        content = answer if isinstance(answer, str) else json.dumps(answer)
        if fault is not None:  # malformed: the answer cut off mid-way ("Yes" to "Y", a letter to nothing)
            content = content[: len(content) // 2]
        self._send_json(200, _completion(body, content, self.server.logprobs))

    def _answer(self, messages: list[dict[str, Any]], schema: str) -> dict[str, Any] | str:
        if self.server.slots is None:
            time.sleep(self.server.latency)
            return self.server.script(messages, schema)
        with self.server.slots:
            time.sleep(self.server.latency)
            return self.server.script(messages, schema)

    def _misbehave(self, fault: Fault) -> None:
        if fault.kind == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN, as a crashed proxy or server would.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault.kind == "stall":
            self.server.closing.wait(fault.seconds)
            self.close_connection = True
            return
        if fault.kind == "html":
            page = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        status = fault.status or _DEFAULT_STATUS[fault.kind]
        headers = {"retry-after": fault.retry_after, "retry-after-ms": fault.retry_after_ms}
        error = {"message": fault.message, "type": fault.kind, "param": None, "code": None}
        self._send_json(status, {"error": error}, {k: v for k, v in headers.items() if v is not None})

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up on the call (a killed mbre): nothing to tell


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """The headers and the body go out in two writes: with Nagle's algorithm, the body would wait for the
    client's delayed ACK of the headers (some 40 ms), and a kept-alive connection would pay that on
    every call."""


def is_probe(messages: list[dict[str, Any]]) -> bool:
    """Whether a request is mbre's endpoint check asking whether token probabilities come back."""
    return len(messages) == 1 and messages[0].get("content") == probe_messages()[0].content


def _completion(body: dict[str, Any], content: str, logprobs: bool = True) -> dict[str, Any]:
    """A chat completion of `content`, one token per character, each with probability exp(-0.05) and
    itself as its one alternative (when asked for, and `logprobs`)."""
    tokens = [
        {"token": ch, "logprob": -0.05, "bytes": None, "top_logprobs": [{"token": ch, "logprob": -0.05}]}
        for ch in content
    ]
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
                "logprobs": {"content": tokens} if body.get("logprobs") and logprobs else None,
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": len(tokens), "total_tokens": 50 + len(tokens)},
    }


@contextmanager
def stub_server(
    script: Script,
    faults: Faults | None = None,
    models: Fault | None = None,
    latency: float = 0.0,
    slots: int | None = None,
    keep_alive: bool = False,
    logprobs: bool = True,
) -> Iterator[StubServer]:
    server = StubServer(script, faults, models, latency, slots, keep_alive, logprobs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
