"""A loopback server speaking Gemini's generateContent API (`POST /v1beta/models/MODEL:generateContent`),
for `google_genai:` models through the real langchain-google-genai and google-genai SDK. It returns no
token probabilities (langchain-google-genai asks for none); a request for JSON output with an enum
schema (mbre's constrained answer) is answered by the JSON string of the answer, as Gemini does, and a
request for an object (confidence="verbalized") by the object (`filled`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.wire import Script, WireHandler, WireServer, filled, serving


def _text(content: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in content.get("parts", []))


class _Handler(WireHandler):
    def do_POST(self) -> None:
        body = self.read_json()
        if not self.path.split("?")[0].endswith(":generateContent"):
            self.send_error(404)
            return
        system = body.get("systemInstruction") or body.get("system_instruction")
        turns = [{"role": "system", "content": _text(system)}] if system else []
        turns += [{"role": c.get("role", "user"), "content": _text(c)} for c in body["contents"]]
        text = self.answer(body, turns).text
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") == "application/json":
            text = json.dumps(filled(text, config.get("responseJsonSchema") or {}))
        self.send_json(
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": text}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 2, "totalTokenCount": 52},
                "modelVersion": self.path.split("/models/")[1].split(":")[0],
            },
        )


@contextmanager
def gemini_server(script: Script) -> Iterator[WireServer]:
    with serving(WireServer(_Handler, script)) as server:
        yield server
