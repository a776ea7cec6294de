"""A stand-in for llama-server, run as a process by the supervisor in the lifecycle unit tests: it takes the
same command line (only ``--port`` matters), is healthy at once, answers every chat completion "yes", and
reports its slots the way llama-server does (a task id that changes with each request).

Its tokenizer endpoints answer as llama-server's do, without a task: ``/apply-template`` renders the
messages in ChatML (`chat_template`), ``/tokenize`` gives a token per whitespace-separated word
(`tokenize`), one more for BOS with ``add_special``, and ``/v1/chat/completions/input_tokens`` counts a
chat completion's messages so (`input_tokens`). With ``FAKE_LLAMA_API_KEY`` set they want that key as a
bearer token, as llama-server's ``--api-key`` does.

``FAKE_LLAMA_DELAY`` (seconds) slows each answer, so a test can kill the server with a request in flight;
a request whose body contains ``FAKE_LLAMA_DIE_ON`` kills the server instead of being answered.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_tasks = 0
_busy = 0
_lock = threading.Lock()


def chat_template(messages: list[dict[str, str]]) -> str:
    """ChatML, ready for the assistant's turn."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return f"{turns}<|im_start|>assistant\n"


def tokenize(text: str, *, add_special: bool = False) -> list[int]:
    """A token per whitespace-separated word, and a BOS first with `add_special`."""
    return [1] * add_special + list(range(100, 100 + len(text.split())))


def input_tokens(messages: list[dict[str, str]]) -> int:
    """The prompt tokens of a chat completion of `messages`: its template, tokenized with BOS."""
    return len(tokenize(chat_template(messages), add_special=True))


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send({"status": "ok"})
        elif self.path == "/slots":
            self._send([{"id": 0, "id_task": _tasks, "is_processing": _busy > 0}])
        else:
            self._send({"error": "not found"}, 404)

    def do_POST(self) -> None:
        global _tasks, _busy
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path in ("/apply-template", "/tokenize", "/v1/chat/completions/input_tokens"):
            self._tokenizer(json.loads(body))
            return
        poison = os.environ.get("FAKE_LLAMA_DIE_ON")
        if poison and poison.encode() in body:
            os._exit(1)
        with _lock:
            _tasks += 1
            _busy += 1
        time.sleep(float(os.environ.get("FAKE_LLAMA_DELAY", "0")))
        with _lock:
            _busy -= 1
        request = json.loads(body)
        self._send(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": request.get("model", "fake"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "yes"}}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            }
        )

    def _tokenizer(self, request: dict[str, Any]) -> None:
        key = os.environ.get("FAKE_LLAMA_API_KEY")
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._send({"error": {"code": 401, "message": "Invalid API Key"}}, 401)
        elif self.path == "/apply-template":
            self._send({"prompt": chat_template(request["messages"])})
        elif self.path.endswith("/input_tokens"):
            self._send({"object": "response.input_tokens", "input_tokens": input_tokens(request["messages"])})
        else:
            self._send(
                {"tokens": tokenize(request["content"], add_special=request.get("add_special", False))}
            )

    def _send(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving() -> Iterator[str]:
    """The stand-in in a thread of this process, on a free loopback port: its root URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    server.daemon_threads = True
    print(f"fake llama-server listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
