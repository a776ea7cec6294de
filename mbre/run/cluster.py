"""`mbre discover --backend ray`: the sentences are labelled by a pool of Ray actors, each holding the
compiled graph and labelling `concurrency` sentences at once on its own event loop; this process, the
driver, keeps the run directory (lock, manifest, resume, signals) and is the only one that writes it.

Pending sentences stream to the actors and results stream back, appended as they finish (`Recorder`).
An actor that dies (its machine lost, its process killed) loses nothing: its sentences in flight are sent
to a fresh actor, and each is written once, by the driver, when an answer comes back. A sentence whose
worker dies `MAX_LOSSES` times is recorded as failed, so one that kills every worker cannot stop a run.
A stop signal lets the sentences in flight finish and stops the actors; the run resumes as any other.

Imported only by a Ray run: `ray` is the `mbre[ray]` extra, and `import mbre` never loads it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
from langchain_core.callbacks import BaseCallbackHandler
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayTaskError

from mbre.errors import SettingError, StorageError
from mbre.graph.builder import build_graph
from mbre.graph.calibration import spent
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.discover import Outcome, RayOptions, Recorder, attempt, executor_threads
from mbre.run.signals import stop_in_loop
from mbre.run.tracing import JsonlTracer, RecordingTracer
from mbre.schemas.instances import Instance
from mbre.schemas.results import Usage

#: How often a sentence may lose its worker before it is recorded as failed.
MAX_LOSSES = 3
#: Nothing of a run leaves the machine for Ray's own sake: no usage statistics.
QUIET_RAY = {"RAY_USAGE_STATS_ENABLED": "0"}


class LabelWorker:
    """A Ray actor: the compiled graph, and the sentences sent to it labelled concurrently."""

    def __init__(self, inventory: Inventory, ctx: MbreContext, concurrency: int, trace: bool) -> None:
        self._inventory, self._ctx = inventory, ctx
        self._graph = build_graph(inventory)
        self._threads = executor_threads(inventory, concurrency)
        self._executor: ThreadPoolExecutor | None = None
        self._tracer = RecordingTracer() if trace else None

    def pid(self) -> int:
        return os.getpid()

    async def label(self, instance: Instance) -> tuple[Outcome, Usage, list[dict[str, Any]]]:
        """The sentence's outcome with its events, this process's calibration usage so far, and the trace
        records made since the last call."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._threads)
            asyncio.get_running_loop().set_default_executor(self._executor)
        events: list[dict[str, Any]] = []
        callbacks: list[BaseCallbackHandler] = [self._tracer] if self._tracer is not None else []
        outcome = await attempt(
            self._graph, self._inventory, instance, self._ctx, on_event=events.append, callbacks=callbacks
        )
        outcome.events = events
        return outcome, spent(), self._tracer.drain() if self._tracer is not None else []


def connect(address: str | None) -> bool:
    """Join the cluster at `address`, or start Ray on this machine (quiet: no dashboard, no usage
    statistics, workers' logs kept in Ray's session directory); True when this call started it."""
    if ray.is_initialized():
        return False
    for name, value in QUIET_RAY.items():
        os.environ.setdefault(name, value)
    ray.init(
        address=address,
        include_dashboard=False if address is None else None,
        log_to_driver=False,
        logging_level=logging.WARNING,
        namespace="mbre",
    )
    return True


class Pool:
    """The actors, one per slot; a dead one is replaced in its slot."""

    def __init__(self, make: Any, workers: int) -> None:
        self._make = make
        self.actors: list[ActorHandle] = [make() for _ in range(workers)]
        self.generation = [0] * workers

    def replace(self, slot: int, dead: ActorHandle) -> None:
        """A fresh actor in `slot`, unless another caller that saw `dead` die replaced it already."""
        if self.actors[slot] is dead:
            self.actors[slot] = self._make()
            self.generation[slot] += 1

    def stop(self) -> None:
        for actor in self.actors:
            ray.kill(actor)


async def run_on_ray(
    inventory: Inventory,
    pending: list[Instance],
    ctx: MbreContext,
    recorder: Recorder,
    concurrency: int,
    callbacks: list[BaseCallbackHandler],
    options: RayOptions,
) -> None:
    """Label `pending` on `options.workers` actors, `concurrency` sentences in flight on each; every
    outcome is recorded here as it arrives."""
    tracers = [callback for callback in callbacks if isinstance(callback, JsonlTracer)]
    if len(tracers) < len(callbacks):
        raise SettingError("--backend ray takes --trace, and no other callback: the nodes run in Ray workers")
    started = connect(options.address)
    worker = ray.remote(LabelWorker).options(
        max_concurrency=concurrency, num_cpus=1, scheduling_strategy="SPREAD"
    )
    pool = Pool(lambda: worker.remote(inventory, ctx, concurrency, bool(tracers)), options.workers)
    try:
        pids: list[int] = await asyncio.gather(*(actor.pid.remote() for actor in pool.actors))
        for slot, pid in enumerate(pids):
            recorder.emit({"event": "worker", "slot": slot, "pid": pid})
        await _feed(pending, recorder, pool, concurrency, tracers)
    finally:
        pool.stop()
        if started:
            ray.shutdown()
    if recorder.broken:
        raise recorder.broken[0]


async def _feed(
    pending: list[Instance],
    recorder: Recorder,
    pool: Pool,
    concurrency: int,
    tracers: list[JsonlTracer],
) -> None:
    queue: Iterator[Instance] = iter(pending)
    again: collections.deque[Instance] = collections.deque()
    losses: collections.Counter[str] = collections.Counter()
    in_flight = 0
    changed = asyncio.Condition()

    async def take() -> Instance | None:
        """The next sentence: one lost with its worker first; None once none is left and none in flight
        can come back."""
        async with changed:
            while True:
                if recorder.stop.is_set():
                    return None
                if again:
                    return again.popleft()
                instance = next(queue, None)
                if instance is not None or in_flight == 0:
                    return instance
                await changed.wait()

    async def feed(slot: int) -> None:
        nonlocal in_flight
        while (instance := await take()) is not None:
            actor = pool.actors[slot]
            key = (slot, pool.generation[slot])
            in_flight += 1
            try:
                outcome, calibration, records = await actor.label.remote(instance)
            except RayActorError:  # the worker died with the sentence: another one labels it
                pool.replace(slot, actor)
                losses[instance.id] += 1
                if losses[instance.id] < MAX_LOSSES:
                    again.append(instance)
                    recorder.summary.resent += 1
                    recorder.emit({"event": "resent", "id": instance.id, "slot": slot})
                else:
                    error = f"WorkerLost: its Ray worker died {MAX_LOSSES} times while labelling it"
                    _record(recorder, instance, Outcome(error=error))
                continue
            except RayTaskError as error:  # raised in the worker: a broken disk or cache stops the run
                cause = error.cause
                if isinstance(cause, StorageError):
                    recorder.fail(cause)
                    return
                raise
            finally:
                in_flight -= 1
                async with changed:
                    changed.notify_all()
            recorder.remote_calibration[key] = calibration
            for tracer in tracers:
                tracer.write_records(records)
            for event in outcome.events:
                recorder.emit(event)
            _record(recorder, instance, outcome)

    loop = asyncio.get_running_loop()
    with stop_in_loop(loop, recorder.on_signal):
        await asyncio.gather(*(feed(slot) for slot in range(len(pool.actors)) for _ in range(concurrency)))


def _record(recorder: Recorder, instance: Instance, outcome: Outcome) -> None:
    try:
        recorder.record(instance, outcome)
    except StorageError as error:
        recorder.fail(error)
