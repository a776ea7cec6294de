"""`--trace FILE`: a local JSON Lines record of every node run and every LLM call.

Written from callbacks, so it sees exactly what LangChain sends and gets back. It records prompt hashes,
not prompts, and never the model's client settings; each line is mbre's own record, masked (`mbre.files`),
so a provider error that echoes the API key reaches the file without it. A calibration call (a
content-free sentence, asked once for the run) is marked `calibration` and has no sentence id. A call
answered by a fleet of servers (`mbre.llm.fleet`) names the `endpoint` that answered it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from mbre.errors import StorageError
from mbre.files import append_line, mask
from mbre.llm.fleet import answered_by, forget_answer


class RecordingTracer(BaseCallbackHandler):
    """The trace's records kept in memory, for a process that labels away from the run's trace file (a
    Ray worker: `mbre.run.cluster`), which hands them to the driver with each sentence (`drain`).
    Thread-safe: one tracer serves every sentence of a concurrent run."""

    raise_error = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[UUID, tuple[float, dict[str, Any]]] = {}
        self._records: list[dict[str, Any]] = []

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(record)

    def drain(self) -> list[dict[str, Any]]:
        """The records made since the last call."""
        with self._lock:
            records, self._records = self._records, []
        return records

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, metadata: Any = None, **kw: Any
    ) -> None:
        metadata = metadata or {}
        node = metadata.get("langgraph_node")
        if node is not None and kw.get("name") == node:
            self._started[run_id] = (time.perf_counter(), {"node": node, "id": metadata.get("mbre_id")})

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self._finish(run_id, "node", {})

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._finish(run_id, "node", {"error": repr(error)})

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: Any = None,
        **kw: Any,
    ) -> None:
        metadata = metadata or {}
        forget_answer()  # an answer from the cache has no endpoint
        prompt = json.dumps([[m.type, m.content] for m in messages[0]], ensure_ascii=False)
        self._started[run_id] = (
            time.perf_counter(),
            {
                "node": metadata.get("langgraph_node"),
                "id": metadata.get("mbre_id"),
                "model": metadata.get("ls_model_name"),
                "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
                **({"calibration": True} if metadata.get("mbre_calibration") else {}),
            },
        )

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        message = getattr(generation, "message", None)
        usage = getattr(message, "usage_metadata", None) or {}
        raw = getattr(message, "content", "") or json.dumps(
            [call["args"] for call in getattr(message, "tool_calls", [])], ensure_ascii=False
        )
        self._finish(
            run_id,
            "llm",
            {
                "prompt_tokens": usage.get("input_tokens"),
                "completion_tokens": usage.get("output_tokens"),
                "output": raw,
                **({"endpoint": endpoint} if (endpoint := answered_by()) else {}),
            },
        )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._finish(run_id, "llm", {"error": repr(error)})

    def _finish(self, run_id: UUID, kind: str, extra: dict[str, Any]) -> None:
        started = self._started.pop(run_id, None)
        if started is None:
            return
        began, fields = started
        self._write({"type": kind, **fields, "latency_s": round(time.perf_counter() - began, 4), **extra})


class JsonlTracer(RecordingTracer):
    """The trace written to its file as it happens. The file is created at once, so a path that cannot
    be written fails before any LLM call; a write that fails later stops the run (`raise_error`:
    langchain would otherwise only log it, once per call)."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            raise StorageError.cannot_write(self.path, exc) from exc

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            append_line(self.path, mask(line))

    def write_records(self, records: list[dict[str, Any]]) -> None:
        """Append records made elsewhere (a `RecordingTracer`'s)."""
        for record in records:
            self._write(record)
