"""Stopping on a signal. Ctrl-C (SIGINT), SIGTERM (`kill`, a job scheduler) and SIGHUP (a closed terminal)
all mean "stop": the first one lets the sentences in flight finish and the run end cleanly; a second one
exits at once. Either way the exit status is 128 + the signal's number (130, 143, 129), as shells report,
so a script sees the run is not complete, and the same command resumes it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn

from mbre.errors import Stopped

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_status(signum: int) -> int:
    return 128 + signum


@contextlib.contextmanager
def stop_with_error() -> Iterator[None]:
    """Outside a run's event loop (reading input, starting models, writing a report), a stop signal
    raises `Stopped`: the command ends with one line, its exit status and the usual exit hooks, rather
    than Python's default for SIGTERM and SIGHUP (death without cleanup) or click's "Aborted!" and
    exit 1 for Ctrl-C. Only on the main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_stopped(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum, f"stopped by {signal_name(signum)}: the same command resumes")

    previous = {signum: signal.signal(signum, raise_stopped) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def stop_in_loop(loop: asyncio.AbstractEventLoop, on_stop: Callable[[int], None]) -> Iterator[None]:
    """While a run's event loop runs: `on_stop(signum)` at a stop signal, on the loop, where it can ask
    the workers to start no new sentence. The handlers in place before (those of `stop_with_error`, or
    Python's own) come back afterwards. Only on the main thread, where signals are delivered."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_stop, signum)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, _handler(handler))


def exit_now(signum: int) -> NoReturn:
    """Exit at once, with the signal's status. Not through `asyncio.run`'s ending, which joins the
    default executor, whose threads may sit in HTTP calls for up to the model's timeout (a second Ctrl-C
    took 49 s on the embedded model): what is written stays whole (each sample and trace line is one
    write), the calls in flight are lost, and the LLM-call cache keeps every answer already given."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(exit_status(signum))


def _handler(handler: Any) -> Any:
    """`signal.getsignal` gives None for a handler not set from Python; the default then stands."""
    return signal.SIG_DFL if handler is None else handler
