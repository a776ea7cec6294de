"""Labelling a whole file into a run directory: sentences flow through the graph on asyncio with a bounded
number in flight; each sample is appended the moment it is decided, so nothing finished is ever lost."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from mbre.errors import InputError, MbreError, SettingError, StorageError
from mbre.files import mask, mask_urls
from mbre.graph.builder import build_graph
from mbre.graph.calibration import spent
from mbre.graph.context import MbreContext
from mbre.graph.state import InputState, OutputState, State
from mbre.inventory.inventory import ALL_LABELS, Inventory
from mbre.llm.providers import context_window
from mbre.llm.tokens import TokenCounter, token_counter
from mbre.prompts.render import extraction_messages, prompts_hash
from mbre.run.budget import Budget, BudgetReached, Meter
from mbre.run.inputs import GivenFiles, store_inputs
from mbre.run.lock import hold
from mbre.run.rundir import Manifest, RunDir, file_sha256
from mbre.run.signals import exit_now, signal_name, stop_in_loop
from mbre.schemas.instances import Instance, Span
from mbre.schemas.options import answer_settings, answer_settings_before
from mbre.schemas.results import Decision, Extraction, Provenance, Sample, Usage, Verdict
from mbre.version import mbre_version

_log = logging.getLogger(__name__)
#: Receives every custom stream event of every sentence (progress), on the event-loop thread.
EventSink = Callable[[dict[str, Any]], None]
#: What `label_one` listens to: the nodes' progress events, and the state (for the decision).
STREAM_MODES: list[StreamMode] = ["custom", "values"]
#: The first sentences of a run whose answers must mostly parse, or the run stops (`AnswersDoNotParse`).
PARSE_CHECK_SENTENCES = 5


class AnswersDoNotParse(MbreError):
    """Most answers of a run's first sentences named no option: the model does not follow the format,
    and every further sentence would only be an abstention. Raised once the sentences in flight are done,
    their samples kept."""


@dataclass
class ParseCheck:
    """Counts the answers of the first `PARSE_CHECK_SENTENCES` sentences, keeping one that did not parse."""

    sentences: int = 0
    answers: int = 0
    failed: int = 0
    example: tuple[str, str] | None = None
    """(raw answer, why it did not parse) of the first failed answer."""

    def add(self, decision: Decision) -> AnswersDoNotParse | None:
        """Count one decided sentence; the error when the first sentences are in and most failed."""
        if self.sentences >= PARSE_CHECK_SENTENCES:
            return None
        self.sentences += 1
        answers: list[Extraction | Verdict] = [*decision.extractions, *decision.verdicts]
        for answer in answers:
            self.answers += 1
            if answer.abstained:
                self.failed += 1
                self.example = self.example or (answer.raw or "", answer.error or "")
        if self.sentences < PARSE_CHECK_SENTENCES or self.failed * 2 <= self.answers:
            return None
        raw, why = self.example or ("", "")
        return AnswersDoNotParse(
            f"{self.failed} of {self.answers} answers of the first {self.sentences} sentences did not parse, "
            f"e.g. {raw[:120]!r} ({why}): the model does not answer with one option letter or yes/no. Use a "
            "provider with constrained answers (anthropic, google_genai, ollama; see docs/providers.md), "
            "an instruction-tuned model, or a larger parse_retries; the samples so far are kept"
        )


@dataclass
class StatedCheck:
    """Watches the confidences the model states (`confidence="verbalized"`) over the first
    `PARSE_CHECK_SENTENCES` sentences: one value stated for every answer (an instruction's example copied,
    a model always sure) ranks nothing, and the user should hear so while the run is young."""

    sentences: int = 0
    answers: int = 0
    values: set[float] = field(default_factory=set)

    def add(self, decision: Decision) -> str | None:
        """Count one decided sentence; the warning once the first sentences are in, all at one value."""
        if self.sentences >= PARSE_CHECK_SENTENCES:
            return None
        self.sentences += 1
        answers: list[Extraction | Verdict] = [*decision.extractions, *decision.verdicts]
        for answer in answers:
            if answer.source == "verbalized" and answer.confidence is not None:
                self.answers += 1
                self.values.add(round(answer.confidence, 6))
        if self.sentences < PARSE_CHECK_SENTENCES or self.answers < 2 or len(self.values) > 1:
            return None
        (value,) = self.values
        return (
            f"the model stated the same confidence, {value:.0%}, for all {self.answers} answers of the first "
            f"{self.sentences} sentences that stated one: its stated confidences rank nothing (a model may "
            "copy the instruction's example); confidence = sampled measures agreement instead"
        )


@dataclass
class Summary:
    """What one invocation did, for the closing table and for scripts."""

    sentences: int = 0
    """Sentences decided by this invocation."""
    labelled: int = 0
    """Sentences that got a positive relation."""
    no_relation: int = 0
    abstained: int = 0
    resumed: int = 0
    """Sentences already finished in the run directory, not asked again."""
    failed: dict[str, str] = field(default_factory=dict)
    """Sentence id -> error, for sentences whose run raised (e.g. the endpoint kept failing)."""
    refused: int = 0
    """Sentences too long for the model's context, quarantined with the reason."""
    quarantined: int = 0
    """Input lines refused as bad input (`--on-bad-input skip`)."""
    stopped: str | None = None
    """Why the run stopped before the end: `budget` or `interrupted`; None when it ran through."""
    signal: int | None = None
    """The signal that interrupted the run (SIGINT, SIGTERM, SIGHUP)."""
    resent: int = 0
    """Sentences sent again because the Ray worker labelling them was lost (`--backend ray`)."""
    failed_earlier: int = 0
    """Sentences that failed in an earlier invocation and were not taken again (`retry_failed`)."""
    usage: Usage = field(default_factory=Usage)
    """LLM usage of the sentences decided now."""
    calibration: Usage = field(default_factory=Usage)
    """LLM usage of the content-free questions that measured each question's bias, once for the run."""
    billed: Usage = field(default_factory=Usage)
    """Every call of this invocation (`mbre.run.budget.Meter`): the sentences decided, the calibration
    questions, and the calls of sentences left unfinished when the budget or a signal stopped the run."""
    stages: dict[str, Usage] = field(default_factory=dict)
    """LLM usage per node (`extract`, `verify`)."""
    seconds: float = 0.0
    rules: dict[str, int] = field(default_factory=dict)

    def add(self, decision: Decision, no_relation_label: str) -> None:
        self.sentences += 1
        self.usage = self.usage + decision.usage
        self.rules[decision.rule] = self.rules.get(decision.rule, 0) + 1
        if decision.label is None:
            self.abstained += 1
        elif decision.label == no_relation_label:
            self.no_relation += 1
        else:
            self.labelled += 1

    def add_stage(self, event: dict[str, Any]) -> None:
        usage = Usage.model_validate(event["usage"])
        self.stages[event["node"]] = self.stages.get(event["node"], Usage()) + usage

    @property
    def cache_hit_rate(self) -> float | None:
        return self.usage.cached_calls / self.usage.calls if self.usage.calls else None


def provenance(inventory: Inventory, ctx: MbreContext) -> Provenance:
    models = {ctx.model_name("extraction"), ctx.model_name("verification")}
    ready = ctx.chat_model is not None
    return Provenance(
        model=" + ".join(sorted(models)) if not ready else type(ctx.chat_model).__name__,
        extraction_model=None if ready else ctx.model_name("extraction"),
        verification_model=None if ready else ctx.model_name("verification"),
        strategy=ctx.strategy,
        decision_policy=ctx.decision,
        epsilon=ctx.epsilon,
        threshold=ctx.threshold,
        thresholds=ctx.thresholds,
        group_weight=ctx.group_weight,
        prompt_hash=prompts_hash(ctx.confidence == "verbalized"),
        schema_hash=inventory.schema.sha256,
        grouping_hash=inventory.grouping.sha256,
        demonstrations_hash=inventory.demonstrations.sha256,
        shots=ctx.shots,
        mbre_version=mbre_version(),
    )


def manifest(
    inventory: Inventory,
    ctx: MbreContext,
    instances: list[Instance],
    input_file: str | Path | None,
    input_sha256: str | None = None,
) -> Manifest:
    """The run's identity. The input is hashed as it was read (`input_sha256`), else from the file when it
    can be read again, else (in memory, or a pipe already consumed) from the sentences themselves.
    Credentials in URLs are masked here, so resuming compares what the file holds."""
    if input_sha256 is None and input_file is not None and _rereadable(input_file):
        input_sha256 = file_sha256(input_file)
    if input_sha256 is None:
        digest = hashlib.sha256()
        for instance in instances:
            digest.update(instance.model_dump_json().encode("utf-8") + b"\n")
        input_sha256 = digest.hexdigest()
    settings = {name: mask_urls(v) if isinstance(v, str) else v for name, v in answer_settings(ctx).items()}
    return Manifest(
        mbre_version=mbre_version(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        command=[mask_urls(arg) for arg in sys.argv],
        input_file=str(input_file or "(in memory)"),
        input_sha256=input_sha256,
        schema_hash=inventory.schema.sha256,
        grouping_hash=inventory.grouping.sha256,
        prompt_hash=prompts_hash(ctx.confidence == "verbalized"),
        demonstrations_hash=inventory.demonstrations.sha256,
        settings=settings,
        settings_before=answer_settings_before(MbreContext),
    )


def _rereadable(path: str | Path) -> bool:
    """A regular file reads the same twice; a pipe, a FIFO or /dev/stdin is empty the second time."""
    try:
        return stat.S_ISREG(Path(path).stat().st_mode)
    except OSError:
        return False


def _prompt_tokens(inventory: Inventory, instance: Instance, counter: TokenCounter) -> int:
    """How many tokens the longest prompt about `instance` takes: the one offering every label bounds
    every prompt the graph sends for it."""
    return counter.count(extraction_messages(inventory.schema, inventory.asked_labels(ALL_LABELS), instance))


def _about(counter: TokenCounter) -> str:
    return "" if counter.exact else "about "


def too_long(inventory: Inventory, instance: Instance, ctx: MbreContext) -> str | None:
    """Why a sentence cannot fit the model's context, or None. Counted by the extraction model's
    tokenizer (`mbre.llm.tokens`), which may ask its server: call it off the event loop."""
    window = context_window(ctx)
    if window is None:
        return None
    counter = token_counter(ctx, "extraction")
    tokens = _prompt_tokens(inventory, instance, counter)
    if tokens + ctx.max_tokens <= window:
        return None
    return (
        f"sentence too long for the model: its prompts take {_about(counter)}{tokens} tokens, plus "
        f"max_tokens {ctx.max_tokens}, over the context of {window} tokens"
    )


def check_schema_fits(inventory: Inventory, ctx: MbreContext) -> None:
    """Refuse, before any call, relation definitions too long for the model's context: every sentence's
    prompts would overflow, and each would be refused alone. Names the longest definition. Counting may
    start the embedded server (its tokenizer), never an LLM call."""
    window = context_window(ctx)
    if window is None:
        return
    shortest = Instance(
        id="-", text="a b", head=Span(name="a", start=0, end=1), tail=Span(name="b", start=2, end=3)
    )
    counter = token_counter(ctx, "extraction")
    tokens = _prompt_tokens(inventory, shortest, counter)
    if tokens + ctx.max_tokens <= window:
        return
    schema = inventory.schema
    longest = max(schema.relations, key=lambda relation: len(relation.description))
    raise InputError(
        schema.source,
        f"the definitions are too long for the model: a prompt offering every label takes "
        f"{_about(counter)}{tokens} tokens before any sentence, plus max_tokens {ctx.max_tokens}, over the "
        f"context of {window} tokens (context_tokens); the longest is {longest.label!r}'s, "
        f"{len(longest.description)} characters",
        field="description",
    )


async def label_one(
    graph: CompiledStateGraph[State, MbreContext, InputState, OutputState],
    instance: Instance,
    ctx: MbreContext,
    *,
    on_event: EventSink | None,
    callbacks: list[BaseCallbackHandler],
) -> Decision:
    """Stream one sentence through the graph, passing its progress events on as they happen."""
    config: RunnableConfig = {"callbacks": callbacks, "metadata": {"mbre_id": instance.id}}
    decision: Decision | None = None
    stream = graph.astream(InputState(instance=instance), config, context=ctx, stream_mode=STREAM_MODES)
    async for part in stream:
        mode, chunk = cast(tuple[StreamMode, Any], part)  # with several modes, each part is (mode, chunk)
        if mode == "custom" and on_event is not None:
            on_event(chunk)
        elif mode == "values" and chunk.get("decision") is not None:
            decision = chunk["decision"]
    if decision is None:  # the graph always ends in `decide`; this would be a bug, not bad input
        raise RuntimeError(f"the graph ended without a decision for {instance.id}")
    return decision


@dataclass(frozen=True)
class RayOptions:
    """`--backend ray`: label on Ray actors (`mbre.run.cluster`); the driver keeps the run directory."""

    address: str | None = None
    """A Ray cluster to join (`ray://...` or `auto`); None starts Ray on this machine."""
    workers: int = 2
    """Actors, each holding the compiled graph and labelling `concurrency` sentences at once."""


def discover(
    inventory: Inventory,
    instances: list[Instance],
    ctx: MbreContext,
    run_dir: str | Path,
    *,
    input_file: str | Path | None = None,
    input_sha256: str | None = None,
    concurrency: int = 4,
    on_event: EventSink | None = None,
    callbacks: list[BaseCallbackHandler] | None = None,
    retry_failed: bool = False,
    fresh: bool = False,
    budget: Budget | None = None,
    quarantined: Sequence[InputError] = (),
    given: GivenFiles | None = None,
    ray: RayOptions | None = None,
) -> Summary:
    """Label every instance not yet finished in `run_dir` and append its sample there; `on_event` first
    hears `{"event": "resumed", "sentences"}` when some are finished or failed already.

    The run directory is locked for the call (`mbre.run.lock`). A sentence whose run raises goes to the
    failures file and the others go on; earlier failures are taken again only with `retry_failed`. A
    `StorageError` (a full disk, a damaged cache) stops the run and is raised once the sentences in flight
    are done. A stop signal stops the run cleanly: no new sentence starts, the ones in flight finish; a
    second signal exits at once (`mbre.run.signals`). The budget is checked before every call
    (`mbre.run.budget.Meter`): once a call does not fit, no new sentence starts, and the sentences whose
    next call does not fit stay unfinished. `quarantined` are the input lines refused while reading;
    `input_sha256` is the input file's hash as it was read (see `manifest`). The schema, and the seeds and
    thresholds files in `given`, are kept in the run directory (`mbre.run.inputs`). With `ray`, the
    sentences are labelled by Ray actors and this process stays the run directory's only writer."""
    if concurrency < 1:
        raise SettingError(f"concurrency must be at least 1, not {concurrency}")
    if ray is not None and ray.workers < 1:
        raise SettingError(f"workers must be at least 1, not {ray.workers}")
    if ray is not None and budget is not None:
        raise SettingError(
            "--budget is metered call by call in one process: it does not work with --backend ray yet"
        )
    check_schema_fits(inventory, ctx)
    with hold(run_dir):
        run = RunDir(run_dir)
        run.open(manifest(inventory, ctx, instances, input_file, input_sha256), fresh=fresh)
        store_inputs(run, inventory.schema, given)
        for error in quarantined:
            run.quarantine(error)
        done = run.finished_ids()
        skip = set(done) if retry_failed else done | set(run.failures(done))
        summary = Summary(resumed=len(done), quarantined=len(quarantined))
        pending = [instance for instance in instances if instance.id not in skip]
        if on_event is not None and len(pending) < len(instances):
            on_event({"event": "resumed", "sentences": len(instances) - len(pending)})
        started = time.perf_counter()
        recorder = Recorder(inventory, ctx, run, summary, on_event, done)
        if ray is None:
            meter = Meter(ctx, budget)
            asyncio.run(_run(inventory, pending, ctx, recorder, concurrency, [*(callbacks or []), meter]))
            summary.billed = meter.billed
        else:
            from mbre.run.cluster import run_on_ray  # Ray is an extra: only a Ray run imports it

            asyncio.run(run_on_ray(inventory, pending, ctx, recorder, concurrency, callbacks or [], ray))
            summary.billed = summary.usage + recorder.calibration()
        summary.seconds = time.perf_counter() - started
        summary.calibration = recorder.calibration()
        if summary.sentences:
            run.append_timing(
                summary.sentences, summary.seconds, summary.usage.calls, summary.usage.cached_calls
            )
        wanted = {instance.id for instance in instances}
        summary.failed_earlier = len((run.failures(done).keys() & wanted) - summary.failed.keys())
    return summary


@dataclass
class Outcome:
    """What labelling one sentence came to: a decision, a refusal (too long for the model) or an error."""

    decision: Decision | None = None
    refused: str | None = None
    error: str | None = None
    """The masked error of a sentence whose run raised."""
    over_budget: str | None = None
    """Why the budget refused its next call: not a failure, the sentence is asked again next time."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Its progress events, when it was labelled away from the driver (`mbre.run.cluster`)."""


async def attempt(
    graph: CompiledStateGraph[State, MbreContext, InputState, OutputState],
    inventory: Inventory,
    instance: Instance,
    ctx: MbreContext,
    *,
    on_event: EventSink,
    callbacks: list[BaseCallbackHandler],
) -> Outcome:
    """Label one sentence, writing nothing: one sentence's failure is its outcome, never the run's; a
    `StorageError` (the cache's disk) is raised, since it fails every sentence alike."""
    reason = await asyncio.to_thread(too_long, inventory, instance, ctx)  # may ask a tokenizer
    if reason is not None:
        return Outcome(refused=reason)
    try:
        decision = await label_one(graph, instance, ctx, on_event=on_event, callbacks=callbacks)
    except StorageError:
        raise
    except BudgetReached as reached:
        return Outcome(over_budget=str(reached))
    except Exception as exc:  # one sentence's failure never stops the run
        return Outcome(error=mask(f"{type(exc).__name__}: {exc}"))
    return Outcome(decision=decision)


class Recorder:
    """The driver's side of a run, wherever its sentences are labelled: the single writer of the run
    directory, the summary and the stop signals."""

    def __init__(
        self,
        inventory: Inventory,
        ctx: MbreContext,
        run: RunDir,
        summary: Summary,
        on_event: EventSink | None,
        done: set[str],
    ) -> None:
        self.ctx, self.run, self.summary, self.on_event = ctx, run, summary, on_event
        self.done = done
        """The ids whose sample is written, this run's joining them as they are."""
        self.origin = provenance(inventory, ctx)
        self.no_relation = inventory.schema.no_relation_label
        self.stop = asyncio.Event()
        """Set when no new sentence may start: the budget, a signal or a broken disk."""
        self.broken: list[MbreError] = []
        self.parsing = ParseCheck()
        self.stated = StatedCheck()
        self.remote_calibration: dict[Any, Usage] = {}
        """The calibration spent by each process labelling away from the driver (`mbre.run.cluster`)."""
        self._calibrated = spent()

    def calibration(self) -> Usage:
        """The content-free questions' usage since the run began, here and in every remote worker."""
        return sum(self.remote_calibration.values(), spent() - self._calibrated)

    def emit(self, event: dict[str, Any]) -> None:
        if event.get("event") == "llm" and "usage" in event:
            self.summary.add_stage(event)
        if self.on_event is not None:
            self.on_event(event)

    def record(self, instance: Instance, outcome: Outcome) -> None:
        """Write what one sentence came to; may raise `StorageError`."""
        summary = self.summary
        if outcome.refused is not None:
            self.run.quarantine(InputError(instance.id, outcome.refused, field="text"))
            summary.refused += 1
            self.emit({"event": "refused", "id": instance.id, "error": outcome.refused})
            return
        if outcome.over_budget is not None:
            if summary.stopped is None:
                summary.stopped = "budget"
                self.stop.set()
                self.emit({"event": "stopping", "reason": outcome.over_budget})
            return
        if outcome.decision is None:
            error = outcome.error or "no decision"
            self.run.append_failure(instance.id, error)
            summary.failed[instance.id] = error
            self.emit({"event": "failed", "id": instance.id, "error": error})
            return
        self.run.append_sample(Sample.from_decision(instance, outcome.decision, self.origin))
        self.done.add(instance.id)
        summary.add(outcome.decision, self.no_relation)
        constant = self.stated.add(outcome.decision)
        if constant is not None:
            _log.warning("%s", constant)
        unparsed = self.parsing.add(outcome.decision)
        if unparsed is not None:
            self.broken.append(unparsed)
            summary.stopped = "unparseable"
            self.stop.set()
            self.emit({"event": "stopping", "reason": "most answers do not parse"})

    def fail(self, error: StorageError) -> None:
        """The disk or the cache fails every sentence alike: stop, and raise it once the run ends."""
        self.broken.append(error)
        self.stop.set()
        self.emit({"event": "stopping", "reason": str(error)})

    def on_signal(self, signum: int) -> None:
        if self.summary.signal is not None:  # a second signal: stop now, losing only the calls in flight
            self.emit({"event": "aborting", "reason": f"{signal_name(signum)} again: exiting now"})
            exit_now(signum)
        self.summary.stopped, self.summary.signal = "interrupted", signum
        self.stop.set()
        self.emit(
            {"event": "stopping", "reason": f"{signal_name(signum)}: finishing the sentences in flight"}
        )


def executor_threads(inventory: Inventory, concurrency: int) -> int:
    """The nodes are synchronous and run on the loop's default executor: size it for every call that
    `concurrency` sentences can have in flight (one extraction per group)."""
    return concurrency * max(inventory.grouping.k, 1) + 2


async def _run(
    inventory: Inventory,
    pending: list[Instance],
    ctx: MbreContext,
    recorder: Recorder,
    concurrency: int,
    callbacks: list[BaseCallbackHandler],
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=executor_threads(inventory, concurrency)))
    graph = build_graph(inventory)
    queue: Iterator[Instance] = iter(pending)

    async def worker() -> None:
        for instance in queue:
            if recorder.stop.is_set():
                return
            try:
                outcome = await attempt(
                    graph, inventory, instance, ctx, on_event=recorder.emit, callbacks=callbacks
                )
                recorder.record(instance, outcome)
            except StorageError as error:
                recorder.fail(error)
                return

    with stop_in_loop(loop, recorder.on_signal):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if recorder.broken:
        raise recorder.broken[0]
