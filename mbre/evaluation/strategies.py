"""The strategies compared on gold data: each labels the same sentences with the same model and is scored
and costed; the mbre runs are replayed for the epsilon sweep and the routing widths, and every run for its
precision-yield curve.

An arm of the comparison is a strategy with a decision policy, named `strategy` (the configured policy) or
`strategy:policy` (`mbre:paper`, the paper's exact rule beside the calibrated default).

Every result records what reproduces it: the command, the mbre version, the model, the hashes of the
prompts, schema and grouping, and the sha256 of every input file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from pydantic import BaseModel, computed_field

from mbre.errors import InputError, Stopped
from mbre.evaluation.curves import CurvePoint, precision_yield
from mbre.evaluation.gold import select_slice
from mbre.evaluation.metrics import (
    SEMEVAL_LABELS,
    LabelScores,
    Scores,
    abstention_rate,
    accuracy,
    confusion_matrix,
    prf,
    semeval_official_macro_f1,
)
from mbre.evaluation.records import RunRecord, run_record
from mbre.evaluation.replays import TOP_KS, RouteRow, SweepRow, epsilon_sweep, route_replay
from mbre.files import mask_urls
from mbre.graph.calibration import spent
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.discover import EventSink, discover, provenance
from mbre.run.inputs import GivenFiles
from mbre.run.lock import hold
from mbre.run.rundir import RunDir
from mbre.run.signals import signal_name
from mbre.schemas.instances import Instance
from mbre.schemas.options import EPSILONS, Arm, DecisionPolicy, Strategy, answer_settings, parse_arms
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Sample, Usage


class Setup(BaseModel):
    """What every strategy shared: model, prompts, inventory and the gold slice."""

    model: str
    prompt_hash: str
    schema_hash: str
    grouping_hash: str
    groups: list[list[str]]
    no_relation: str
    settings: dict[str, Any]
    """As configured. The mbre run asks every group whatever `route_top_k` says, so that the routing
    replay can judge every width on the same answers; `route_top_k` joins the replayed widths."""
    limit: int | None
    seed: int | None
    calibration_calls: int = 0
    """Calls on content-free sentences that measured the questions' bias: asked once for all arms, so not
    in any arm's cost per sentence."""
    sentences: int


class Cost(BaseModel):
    """LLM usage of the sentences that got a sample. Seconds are the wall time of the invocations that
    asked the model every call (`timing.jsonl` of the run), over the sentences those invocations decided:
    answers from the cache would time the cache, not the model."""

    sentences: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    processed_prompt_tokens: int = 0
    """Prompt tokens the model evaluated: sent, less what a cache held (`Usage.processed_prompt_tokens`)."""
    timed_sentences: int
    seconds: float

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def calls_per_sentence(self) -> float:
        return _per(self.calls, self.sentences)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def prompt_tokens_per_sentence(self) -> float:
        return _per(self.prompt_tokens, self.sentences)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def processed_prompt_tokens_per_sentence(self) -> float:
        return _per(self.processed_prompt_tokens, self.sentences)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def completion_tokens_per_sentence(self) -> float:
        return _per(self.completion_tokens, self.sentences)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def seconds_per_sentence(self) -> float | None:
        return self.seconds / self.timed_sentences if self.timed_sentences else None


class Confusion(BaseModel):
    labels: list[str]
    """Row i is gold `labels[i]`; column j is predicted `labels[j]`, and the last column abstentions."""
    matrix: list[list[int]]


class StrategyResult(BaseModel):
    name: str
    """The arm: `strategy` or `strategy:policy`."""
    strategy: Strategy
    decision: DecisionPolicy
    samples: str
    """The run directory that holds the strategy's samples."""
    accuracy: float
    micro: Scores
    macro: Scores
    """Micro and macro P/R/F1 over the positive labels (`metrics.prf`)."""
    semeval_macro_f1: float | None
    """The official SemEval-2010 Task 8 score; None unless the schema is SemEval's."""
    per_label: list[LabelScores]
    confusion: Confusion
    abstained: float
    """Share of the sentences without a label: abstentions, and sentences that got no sample."""
    no_sample: dict[str, str]
    """Sentence id -> why it has no sample (its last error), counted above as an abstention."""
    cost: Cost
    ratios: dict[str, float | None]
    """Each per-sentence cost divided by the reference arm's (None where that is 0)."""
    curve: list[CurvePoint]
    """Precision against yield, replayed from the run's recorded scores."""


class Evaluation(BaseModel):
    run: RunRecord
    setup: Setup
    reference: str
    """The arm the cost ratios divide by: the first M-BRe arm, else the first one."""
    strategies: list[StrategyResult]
    epsilon_sweep: list[SweepRow]
    """Replayed from the verdicts of the M-BRe arm with the paper's rule; empty without one."""
    route: list[RouteRow]
    """Replayed from the first M-BRe arm's answers: every group, then each routing width; empty without."""


def is_semeval(schema: RelationSchema) -> bool:
    return set(schema.labels) == SEMEVAL_LABELS


def evaluate(
    inventory: Inventory,
    gold_instances: Sequence[Instance],
    strategies: Sequence[str],
    base_ctx: MbreContext,
    out_dir: str | Path,
    *,
    concurrency: int = 4,
    on_event: EventSink | None = None,
    callbacks: list[BaseCallbackHandler] | None = None,
    limit: int | None = None,
    seed: int = 0,
    files: Mapping[str, str | Path] | None = None,
    fresh: bool = False,
    epsilons: Sequence[float] = EPSILONS,
    top_ks: Sequence[int] = TOP_KS,
    given: GivenFiles | None = None,
) -> Evaluation:
    """Label the gold slice with each arm (`mbre`, `mbre:paper`, ...) into `out_dir/<arm>/` (a discover run
    directory, so an interrupted evaluation resumes) and score every run against the gold labels.

    `on_event` also gets `{"event": "strategy", "strategy", "sentences"}` before each run. `files` are the
    input files to hash into the record, by role; `given` the files each run directory keeps.
    """
    arms = parse_arms(strategies)
    instances = select_slice(gold_instances, limit, seed)
    schema = inventory.schema
    gold = [instance.relation for instance in instances]
    strays = [i.id for i, label in zip(instances, gold, strict=True) if label not in schema.labels]
    if strays:
        raise InputError(
            "gold sentences", f"{len(strays)} have no gold label of the schema, e.g. {strays[0]!r}"
        )
    gold_labels = [label for label in gold if label is not None]
    out_dir = Path(out_dir)
    results: list[StrategyResult] = []
    replayed: dict[str, list[Sample]] = {}
    calibrated_before = spent().calls
    with hold(*(out_dir / arm.directory for arm in arms)):  # refused at once if one is in use
        for arm in arms:
            if on_event is not None:
                on_event({"event": "strategy", "strategy": arm.name, "sentences": len(instances)})
            ctx = replace(
                base_ctx, strategy=arm.strategy, decision=arm.decision or base_ctx.decision, route_top_k=None
            )
            run_dir = out_dir / arm.directory
            summary = discover(
                inventory,
                instances,
                ctx,
                run_dir,
                concurrency=concurrency,
                on_event=on_event,
                callbacks=callbacks,
                fresh=fresh,
                given=given,
            )
            if summary.signal is not None:  # its scores would count the missing sentences as abstentions
                raise Stopped(
                    summary.signal,
                    f"the {arm.name} run stopped ({signal_name(summary.signal)}): the same command resumes",
                )
            result, judged = judge_run(
                arm, ctx.decision, run_dir, [i.id for i in instances], gold_labels, schema
            )
            results.append(result)
            replayed[arm.name] = judged
    mbre_arms = [r for r in results if r.strategy == "mbre"]
    reference = mbre_arms[0].name if mbre_arms else results[0].name
    results = with_ratios(results, reference)
    paper = next((replayed[r.name] for r in mbre_arms if r.decision == "paper"), [])
    routed = replayed[mbre_arms[0].name] if mbre_arms else []
    widths = sorted({*top_ks, *([base_ctx.route_top_k] if base_ctx.route_top_k else [])})
    return Evaluation(
        run=run_record(files or {}),
        setup=_setup(inventory, base_ctx, limit, seed, len(instances), spent().calls - calibrated_before),
        reference=reference,
        strategies=results,
        epsilon_sweep=epsilon_sweep(paper, schema.no_relation_label, epsilons) if paper else [],
        route=route_replay(routed, [str(s.gold) for s in routed], inventory, widths) if routed else [],
    )


def judge_run(
    arm: Arm,
    decision: DecisionPolicy,
    run_dir: Path,
    ids: Sequence[str],
    gold: Sequence[str],
    schema: RelationSchema,
) -> tuple[StrategyResult, list[Sample]]:
    """Score a finished run's samples of the sentences `ids` against their `gold` labels, with its cost and
    its precision-yield curve; and those samples with their gold label, for the replays. A sentence without
    a sample counts as an abstention."""
    run = RunDir(run_dir)
    by_id = {sample.id: sample for sample in run.samples()}
    ordered = [by_id[key] for key in ids if key in by_id]
    failures = run.failures()
    no_sample = {key: failures.get(key, "no sample") for key in ids if key not in by_id}
    pred = [by_id[key].relation if key in by_id else None for key in ids]
    usage = sum((sample.decision.usage for sample in ordered), Usage())
    timed = [timing for timing in run.timings() if timing.cached_calls == 0]
    cost = Cost(
        sentences=len(ordered),
        calls=usage.calls,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        processed_prompt_tokens=usage.processed_prompt_tokens,
        timed_sentences=sum(timing.sentences for timing in timed),
        seconds=sum(timing.seconds for timing in timed),
    )
    gold_by_id = dict(zip(ids, gold, strict=True))
    judged = [sample.model_copy(update={"gold": gold_by_id[sample.id]}) for sample in ordered]
    curve = precision_yield([by_id.get(key) for key in ids], list(gold), schema.no_relation_label)
    result = _score(arm, decision, str(run_dir), list(gold), pred, schema, no_sample, cost, curve)
    return result, judged


def _score(
    arm: Arm,
    decision: DecisionPolicy,
    samples: str,
    gold: list[str],
    pred: list[str | None],
    schema: RelationSchema,
    no_sample: dict[str, str],
    cost: Cost,
    curve: list[CurvePoint],
) -> StrategyResult:
    scores = prf(gold, pred, no_relation=schema.no_relation_label)
    semeval = (
        semeval_official_macro_f1(gold, pred)
        if is_semeval(schema) and any(g != schema.no_relation_label for g in gold)
        else None
    )
    return StrategyResult(
        name=arm.name,
        strategy=arm.strategy,
        decision=decision,
        samples=samples,
        accuracy=accuracy(gold, pred),
        micro=scores.micro,
        macro=scores.macro,
        semeval_macro_f1=semeval,
        per_label=list(scores.per_label),
        confusion=Confusion(labels=schema.labels, matrix=confusion_matrix(gold, pred, schema.labels)),
        abstained=abstention_rate(pred),
        no_sample=no_sample,
        cost=cost,
        ratios={},
        curve=curve,
    )


def with_ratios(results: list[StrategyResult], reference: str) -> list[StrategyResult]:
    (base,) = [r.cost for r in results if r.name == reference]
    measures = {
        "calls": lambda c: c.calls_per_sentence,
        "prompt_tokens": lambda c: c.prompt_tokens_per_sentence,
        "completion_tokens": lambda c: c.completion_tokens_per_sentence,
        "seconds": lambda c: c.seconds_per_sentence,
    }
    out = []
    for result in results:
        ratios = {}
        for name, measure in measures.items():
            value, denominator = measure(result.cost), measure(base)
            ratios[name] = value / denominator if value is not None and denominator else None
        out.append(result.model_copy(update={"ratios": ratios}))
    return out


def _setup(
    inventory: Inventory,
    ctx: MbreContext,
    limit: int | None,
    seed: int,
    sentences: int,
    calibration_calls: int,
) -> Setup:
    origin = provenance(inventory, ctx)
    return Setup(
        model=origin.model,
        prompt_hash=origin.prompt_hash,
        schema_hash=origin.schema_hash,
        grouping_hash=origin.grouping_hash,
        groups=[list(group) for group in inventory.grouping.groups],
        no_relation=inventory.schema.no_relation_label,
        # As JSON values, so a report read back equals the one written (tuples become lists).
        settings=json.loads(
            json.dumps(
                {
                    name: mask_urls(value) if isinstance(value, str) else value
                    for name, value in answer_settings(ctx).items()
                    if name != "strategy"
                }
            )
        ),
        limit=limit,
        seed=seed if limit is not None else None,
        sentences=sentences,
        calibration_calls=calibration_calls,
    )


def _per(total: int, count: int) -> float:
    return total / count if count else 0.0
