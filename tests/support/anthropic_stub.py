"""A loopback server speaking Anthropic's Messages API (`POST /v1/messages`), for `anthropic:` models
through the real langchain-anthropic and anthropic SDK. Like Anthropic it returns no token
probabilities; a request that forces a tool call (`tool_choice` of type `tool`, mbre's constrained
answer) is answered by that tool's call, its input in the tool's schema (`filled`: `{"answer": ...}`, and
a `confidence` where the schema asks for one), any other by a text block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.wire import Script, WireHandler, WireServer, filled, serving


def _text(content: str | list[dict[str, Any]]) -> str:
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


class _Handler(WireHandler):
    def do_POST(self) -> None:
        body = self.read_json()
        if self.path.rstrip("/") != "/v1/messages":
            self.send_error(404)
            return
        system = [{"role": "system", "content": _text(body["system"])}] if body.get("system") else []
        turns = system + [{"role": m["role"], "content": _text(m["content"])} for m in body["messages"]]
        text = self.answer(body, turns).text
        forced = (body.get("tool_choice") or {}).get("type") == "tool"
        if forced:
            (tool,) = [t for t in body["tools"] if t["name"] == body["tool_choice"]["name"]]
        content = (
            [
                {
                    "type": "tool_use",
                    "id": "toolu_stub",
                    "name": tool["name"],
                    "input": filled(text, tool["input_schema"]),
                }
            ]
            if forced
            else [{"type": "text", "text": text}]
        )
        self.send_json(
            200,
            {
                "id": "msg_stub",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "tool_use" if forced else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 50, "output_tokens": 1 + len(text)},
            },
        )


@contextmanager
def anthropic_server(script: Script) -> Iterator[WireServer]:
    with serving(WireServer(_Handler, script)) as server:
        yield server
