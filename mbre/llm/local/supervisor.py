"""The process that owns a shared llama-server: ``python -m mbre.llm.local.supervisor``.

The first mbre process that needs a server starts one supervisor for it, detached in its own session (a
Ctrl-C at the terminal then reaches mbre alone, and the sentences in flight can finish). The supervisor:

- starts llama-server as its child, which gets SIGKILL when the supervisor dies, however it dies;
- writes the registry entry (its starter holds the registry lock and waits for it);
- every `POLL_SECONDS`: stops the server, removes the entry and exits once no process holds a lease (the
  last user left, or was SIGKILLed: the kernel dropped its flock); starts the server again, on the same port
  when it can, if it died; and stops it after `idle` seconds without a request (users that call later
  start a new one, see `mbre.llm.local.shared`);
- on SIGTERM, SIGINT or SIGHUP stops the server and removes the entry.

Why a process of its own rather than the first user's exit hook, or PR_SET_PDEATHSIG on the server: the
server is shared, so it must outlive the process that started it while others use it, and stop when the
last user is gone even if that one was SIGKILLed and ran no hook at all.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from mbre.llm.local.models import LocalModelError
from mbre.llm.local.registry import Entry, Registry
from mbre.llm.local.server import LlamaServer, ServerSpec, free_port, slot_activity

#: How often the supervisor looks at its users and its server.
POLL_SECONDS = 0.5
#: How often (at most) it asks the server whether requests came (``/slots``), for the idle timeout.
IDLE_CHECK_SECONDS = 5.0
#: Starts tried when the server died (the first on its old port, the others on fresh ones).
START_ATTEMPTS = 3
#: The supervisor's messages go to the log too (its stdout), marked so.
_MARK = "mbre supervisor:"


class _Stop(Exception):
    """Raised by the signal handlers to leave whatever the supervisor is doing."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def say(message: str) -> None:
    print(f"{_MARK} {time.strftime('%H:%M:%S')} {message}", flush=True)


class Supervisor:
    """Runs, restarts and stops the server of one registry key."""

    def __init__(self, spec: ServerSpec, registry: Registry, *, log: str, idle_seconds: float) -> None:
        self.spec = spec
        self.registry = registry
        self.log = log
        self.idle_seconds = idle_seconds
        self.server: LlamaServer | None = None
        self.restarts = 0
        self.registered = False

    def start(self, port: int) -> None:
        """Start the server (trying fresh ports if ``port`` fails) and write the entry. The caller holds
        the registry lock, or is the first start, whose starter holds it."""
        for attempt in range(START_ATTEMPTS):
            server = LlamaServer(self.spec, port if attempt == 0 else free_port(), log=sys.stdout.fileno())
            say(f"starting llama-server on port {server.port}: {' '.join(server.spec.command(server.port))}")
            try:
                self.server = server.start()
                break
            except LocalModelError as error:
                say(str(error))
        else:
            raise LocalModelError(f"llama-server did not start in {START_ATTEMPTS} attempts")
        say(f"llama-server pid {self.server.pid} is healthy on port {self.server.port}")
        self.registry.write(
            Entry(
                port=self.server.port,
                pid=self.server.pid or 0,
                supervisor=os.getpid(),
                model=self.spec.model,
                model_sha256=self.spec.model_sha256,
                args=self.spec.arguments(),
                log=self.log,
                restarts=self.restarts,
            )
        )
        self.registered = True

    def watch(self) -> None:
        """Poll until the server should stop, restarting it when it dies; return once it is stopped."""
        assert self.server is not None
        every = min(IDLE_CHECK_SECONDS, self.idle_seconds / 2)
        last_activity, last_active = None, time.monotonic()
        next_idle_check = last_active + every
        while True:
            time.sleep(POLL_SECONDS)
            if not self.registry.in_use():  # cheap check first; confirmed under the lock below
                with self.registry.locked():
                    if not self.registry.in_use():
                        say("no mbre process uses the server any more: stopping it")
                        self.stop()
                        return
            if not self.server.running:
                with self.registry.locked():
                    if not self.registry.in_use():
                        say("the server exited and no mbre process uses it: not starting it again")
                        self.stop()
                        return
                    say(f"llama-server exited with code {self.server.returncode}: starting it again")
                    self.restarts += 1
                    self.start(self.server.port)
                last_activity, last_active = None, time.monotonic()
                continue
            now = time.monotonic()
            if now >= next_idle_check:
                next_idle_check = now + every
                activity = slot_activity(self.server.url)
                busy = activity is None or any(processing for _, processing in activity)
                if busy or activity != last_activity:
                    last_activity, last_active = activity, now
                elif now - last_active >= self.idle_seconds:
                    with self.registry.locked():
                        say(f"no request for {self.idle_seconds:.0f} s: stopping the server")
                        self.stop()
                        return

    def stop(self) -> None:
        """Remove the entry (the caller holds the lock) and stop the server; idempotent."""
        if self.registered:
            entry = self.registry.read()
            if entry is not None and entry.supervisor == os.getpid():
                self.registry.remove()
            self.registered = False
        if self.server is not None:
            self.server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mbre.llm.local.supervisor", description=__doc__)
    parser.add_argument("--registry", type=Path, required=True, help="the registry directory")
    parser.add_argument("--spec", required=True, help="the ServerSpec, as JSON")
    parser.add_argument("--log", required=True, help="this supervisor's log (its stdout), for the entry")
    parser.add_argument("--idle", type=float, required=True, help="seconds without a request before stopping")
    args = parser.parse_args(argv)
    spec = ServerSpec.from_json(args.spec)
    registry = Registry(spec.key, args.registry)
    claim = registry.claim()
    if claim is None:
        say(f"another supervisor serves {spec.key}")
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    supervisor = Supervisor(spec, registry, log=args.log, idle_seconds=args.idle)
    try:
        supervisor.start(free_port())  # the first start: our starter holds the lock for us
        supervisor.watch()
    except (_Stop, LocalModelError) as reason:
        say(f"{reason}: stopping")
        if supervisor.registered:  # else the first start failed, and our starter holds the lock
            with registry.locked():
                supervisor.stop()
        return 1 if isinstance(reason, LocalModelError) else 0
    finally:
        if supervisor.server is not None:
            supervisor.server.stop()  # whatever went wrong, the server never outlives its supervisor
        claim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
