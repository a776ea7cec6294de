"""A loopback server speaking Ollama's native chat API (`POST /api/chat`, streamed as JSON lines), for
`ollama:` models through the real langchain-ollama and ollama client. Asked for `logprobs`, it sends
each answer token with its alternatives (`top_logprobs`, from the script's `Reply`), as Ollama does; a
`format` schema (mbre's constrained answer) gets the answer in that schema's shape as JSON (`filled`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.wire import Script, WireHandler, WireServer, filled, serving


class _Handler(WireHandler):
    def do_POST(self) -> None:
        body = self.read_json()
        if self.path.rstrip("/") != "/api/chat":
            self.send_error(404)
            return
        turns = [{"role": m["role"], "content": m.get("content", "")} for m in body["messages"]]
        reply = self.answer(body, turns)
        schema = body.get("format")
        text = json.dumps(filled(reply.text, schema)) if isinstance(schema, dict) else reply.text
        chunk: dict[str, Any] = {
            "model": body["model"],
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": False,
        }
        if body.get("logprobs"):
            alternatives = reply.probabilities or {reply.text: 1.0}
            chunk["logprobs"] = [
                {
                    "token": text,
                    "logprob": math.log(alternatives.get(reply.text, 1e-9)),
                    "top_logprobs": [
                        {"token": t, "logprob": math.log(p)} for t, p in alternatives.items() if p > 0
                    ],
                }
            ]
        last = {
            "model": body["model"],
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 50,
            "eval_count": 1,
        }
        data = b"".join(json.dumps(line).encode() + b"\n" for line in (chunk, last))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def ollama_server(script: Script) -> Iterator[WireServer]:
    with serving(WireServer(_Handler, script)) as server:
        yield server
