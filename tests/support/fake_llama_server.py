"""A stand-in for llama-server, run as a process by the supervisor in the lifecycle unit tests: it takes the
same command line (only ``--port`` matters), is healthy at once, answers every chat completion "yes", and
reports its slots the way llama-server does (a task id that changes with each request).

``FAKE_LLAMA_DELAY`` (seconds) slows each answer, so a test can kill the server with a request in flight;
a request whose body contains ``FAKE_LLAMA_DIE_ON`` kills the server instead of being answered.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_tasks = 0
_busy = 0
_lock = threading.Lock()


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

    def _send(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


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
