"""The one progress bar of the commands that label: the sentences of this invocation, the labels found, LLM
calls (and how many the cache answered) and tokens, driven by the events that `discover` streams."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mbre.cli.console import console

#: Events after which one more sentence is done, whatever became of it.
_DONE = ("decided", "failed", "refused")


class RunProgress:
    """A live bar for `total` sentences; pass `on_event` to `discover` or `evaluate`. Sentences finished by
    an earlier invocation (`resumed`) leave the total, so the bar and its ETA measure this one's work."""

    def __init__(self, total: int, no_relation: str, description: str = "sentences") -> None:
        self.total = total
        self.no_relation = no_relation
        self.labels = 0
        self.calls = self.cached_calls = self.prompt_tokens = self.completion_tokens = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._progress.add_task(description, total=total, status=self._status())

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def _status(self) -> str:
        return (
            f"labels {self.labels}  LLM calls {self.calls} (cached {self.cached_calls})  "
            f"tokens {self.prompt_tokens}+{self.completion_tokens}"
        )

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "llm":
            usage = event["usage"]
            self.calls += usage["calls"]
            self.cached_calls += usage["cached_calls"]
            self.prompt_tokens += usage["prompt_tokens"]
            self.completion_tokens += usage["completion_tokens"]
        elif kind == "decided" and event["label"] not in (None, self.no_relation):
            self.labels += 1
        elif kind == "resumed":
            self.total -= event["sentences"]
            self._progress.update(self._task, total=self.total)
        elif kind == "strategy":
            self._progress.update(self._task, description=event["strategy"])
        elif kind == "stopping":
            self._progress.console.print(f"[yellow]stopping:[/] {event['reason']}", highlight=False)
        elif kind == "aborting":  # the process exits right after: give the terminal back (cursor) first
            self._progress.stop()
            self._progress.console.print(f"[red]stopping:[/] {event['reason']}", highlight=False)
            return
        self._progress.update(self._task, advance=int(kind in _DONE), status=self._status())
