"""Evaluation against gold data: each strategy labels the same sentences with the same model and is scored
and costed; the mbre run is replayed for the epsilon sweep and the routing widths; and a student trained on
discovered samples is scored beside one trained on as many gold samples.

Every result records what reproduces it: the command, the mbre version, the model, the hashes of the
prompts, schema and grouping, and the sha256 of every input file.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from langchain_core.callbacks import BaseCallbackHandler
from pydantic import BaseModel, computed_field

from mbre import __version__
from mbre.discover import EventSink, discover, provenance
from mbre.embeddings import MiniLM
from mbre.graph.context import MbreContext, Strategy
from mbre.inventory import Inventory
from mbre.loaders import Format, load_instances, sniff_format
from mbre.metrics import (
    SEMEVAL_TYPES,
    LabelScores,
    Scores,
    abstention_rate,
    accuracy,
    confusion_matrix,
    prf,
    semeval_official_macro_f1,
)
from mbre.route_replay import TOP_KS, RouteRow, route_replay
from mbre.runs import RunDir, file_sha256
from mbre.schemas import InputError, Instance, Provenance, RelationSchema, Sample, Usage
from mbre.schemas.instances import iter_jsonl
from mbre.schemas.relations import item_offsets
from mbre.student import (
    EmbeddingStudent,
    Student,
    StudentKind,
    StudentReport,
    TfidfStudent,
    gold_control,
    score_student,
    training_pairs,
)
from mbre.sweep import EPSILONS, SweepRow, epsilon_sweep

STRATEGIES: tuple[Strategy, ...] = ("mbre", "multiclass", "binary")
#: The context settings that shape the labels, recorded in the report (client settings are left out).
RECORDED_SETTINGS = (
    "model",
    "extraction_model",
    "verification_model",
    "temperature",
    "max_tokens",
    "logprobs",
    "decision",
    "epsilon",
    "route_top_k",
    "max_verifications",
    "parse_retries",
)
SEMEVAL_LABELS = frozenset({"Other", *(f"{t}{d}" for t in SEMEVAL_TYPES for d in ("(e1,e2)", "(e2,e1)"))})
_SEMEVAL_SENTENCE_LINE = re.compile(r'\d+\t"')
_TACRED_RELATION_KEY = re.compile(r'"relation"\s*:')


class EvaluationStopped(RuntimeError):
    """A strategy's run stopped before every sentence was labelled (interrupt or budget): its scores
    would count the missing sentences as abstentions, so none are computed. The same call resumes."""


class FileRecord(BaseModel):
    path: str
    sha256: str


class RunRecord(BaseModel):
    """What reproduces a report besides the settings: the command, the version, the input files."""

    command: list[str]
    mbre_version: str
    date: dt.datetime
    files: dict[str, FileRecord]
    """Role (gold, relations, train, ...) -> the file and its sha256."""


class Setup(BaseModel):
    """What every strategy shared: model, prompts, inventory and the gold slice."""

    model: str
    prompt_hash: str
    schema_hash: str
    grouping_hash: str
    groups: list[list[str]]
    no_relation: str
    settings: dict[str, str | int | float | bool | None]
    """As configured. The mbre run asks every group whatever `route_top_k` says, so that the routing
    replay can judge every width on the same answers; `route_top_k` joins the replayed widths."""
    limit: int | None
    seed: int | None
    sentences: int


class Cost(BaseModel):
    """LLM usage of the sentences that got a sample. Seconds are the wall time of the invocations that
    asked the model every call (`timing.jsonl` of the run), over the sentences those invocations decided:
    answers from the cache would time the cache, not the model."""

    sentences: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    timed_sentences: int
    seconds: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def calls_per_sentence(self) -> float:
        return _per(self.calls, self.sentences)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prompt_tokens_per_sentence(self) -> float:
        return _per(self.prompt_tokens, self.sentences)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completion_tokens_per_sentence(self) -> float:
        return _per(self.completion_tokens, self.sentences)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds_per_sentence(self) -> float | None:
        return self.seconds / self.timed_sentences if self.timed_sentences else None


class Confusion(BaseModel):
    labels: list[str]
    """Row i is gold `labels[i]`; column j is predicted `labels[j]`, and the last column abstentions."""
    matrix: list[list[int]]


class StrategyResult(BaseModel):
    strategy: Strategy
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
    """Each per-sentence cost divided by the reference strategy's (None where that is 0)."""


class Evaluation(BaseModel):
    run: RunRecord
    setup: Setup
    reference: Strategy
    """The strategy the cost ratios divide by: mbre when it ran, else the first one."""
    strategies: list[StrategyResult]
    epsilon_sweep: list[SweepRow]
    """Replayed from the mbre run's verdicts; empty without an mbre run."""
    route: list[RouteRow]
    """Replayed from the mbre run's answers: every group, then each routing width; empty without mbre."""


class StudentRun(BaseModel):
    """One training set, and the test scores of each student trained on it."""

    trained_on: Literal["discovered", "gold"]
    train_size: int
    label_distribution: dict[str, int]
    scores: dict[StudentKind, StudentReport]


class StudentComparison(BaseModel):
    run: RunRecord
    samples_provenance: list[Provenance]
    """Every distinct provenance of the discovered samples: the model, prompts and inventory behind them."""
    no_relation: str
    seed: int
    """Seed of the gold control's draw."""
    test_size: int
    discovered: StudentRun
    gold: StudentRun


def run_record(files: Mapping[str, str | Path]) -> RunRecord:
    return RunRecord(
        command=list(sys.argv),
        mbre_version=__version__,
        date=dt.datetime.now(dt.UTC).replace(microsecond=0),
        files={role: FileRecord(path=str(path), sha256=file_sha256(path)) for role, path in files.items()},
    )


def select_slice(instances: Sequence[Instance], limit: int | None, seed: int) -> list[Instance]:
    """`limit` sentences drawn by `random.Random(seed).sample`, so that
    (file, limit, seed) names a slice; every sentence, in file order, without a limit."""
    if limit is None:
        return list(instances)
    if not 1 <= limit <= len(instances):
        raise ValueError(
            f"the limit must be between 1 and {len(instances)} (the sentences given), not {limit}"
        )
    return random.Random(seed).sample(list(instances), limit)


def load_gold(
    path: str | Path, format: Format = "auto", *, labels: Iterable[str] | None = None
) -> list[Instance]:
    """Sentences that all carry a gold label, from `labels` when it is given; a sentence without one, or
    with another, is an InputError naming the file, the line and the field."""
    instances = load_instances(path, format)
    known = None if labels is None else set(labels)
    for position, instance in enumerate(instances):
        if instance.relation is None:
            problem = f"sentence {instance.id!r} has no gold label"
        elif known is not None and instance.relation not in known:
            problem = (
                f"gold label {instance.relation!r} of sentence {instance.id!r} is not in the relation "
                f"schema ({len(known)} labels: {', '.join(sorted(known))})"
            )
        else:
            continue
        raise InputError(str(path), problem, line=_label_line(path, format, position), field="relation")
    return instances


def _label_line(path: str | Path, format: Format, position: int) -> int:
    """The line holding the label of the `position`-th sentence of a file that `load_instances` read."""
    chosen = sniff_format(path) if format == "auto" else format
    if chosen == "jsonl":
        return [number for number, _ in iter_jsonl(path)][position]
    text = Path(path).read_text(encoding="utf-8-sig")
    if chosen == "semeval":  # the label is on the line after its sentence
        starts = [n for n, line in enumerate(text.split("\n"), start=1) if _SEMEVAL_SENTENCE_LINE.match(line)]
        return starts[position] + 1
    start = item_offsets(text, text.index("["))[position]
    key = _TACRED_RELATION_KEY.search(text, start)
    return text.count("\n", 0, key.start() if key else start) + 1


def check_strategies(names: Sequence[str]) -> list[Strategy]:
    """The names as strategies, each known and named once, at least one."""
    if not names or len(set(names)) != len(names) or not set(names) <= set(STRATEGIES):
        raise ValueError(
            f"name distinct strategies from {', '.join(STRATEGIES)}, at least one; got {list(names)}"
        )
    return list(names)  # type: ignore[arg-type]


def is_semeval(schema: RelationSchema) -> bool:
    return set(schema.labels) == SEMEVAL_LABELS


def evaluate(
    inventory: Inventory,
    gold_instances: Sequence[Instance],
    strategies: Sequence[Strategy],
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
) -> Evaluation:
    """Label the gold slice with each strategy into `out_dir/<strategy>/` (a discover run directory, so an
    interrupted evaluation resumes) and score every run against the gold labels.

    `on_event` also gets `{"event": "strategy", "strategy", "sentences"}` before each run. `files` are the
    input files to hash into the record, by role.
    """
    strategies = check_strategies(strategies)
    instances = select_slice(gold_instances, limit, seed)
    schema = inventory.schema
    gold = [instance.relation for instance in instances]
    strays = [i.id for i, label in zip(instances, gold, strict=True) if label not in schema.labels]
    if strays:
        raise ValueError(f"{len(strays)} sentences have no gold label of the schema, e.g. {strays[0]!r}")
    gold_labels = [label for label in gold if label is not None]
    out_dir = Path(out_dir)
    results: list[StrategyResult] = []
    mbre_samples: list[Sample] = []
    for strategy in strategies:
        if on_event is not None:
            on_event({"event": "strategy", "strategy": strategy, "sentences": len(instances)})
        ctx = replace(base_ctx, strategy=strategy, route_top_k=None)
        run_dir = out_dir / strategy
        summary = discover(
            inventory,
            instances,
            ctx,
            run_dir,
            concurrency=concurrency,
            on_event=on_event,
            callbacks=callbacks,
            fresh=fresh,
        )
        if summary.stopped is not None:
            raise EvaluationStopped(
                f"the {strategy} run stopped ({summary.stopped}); the same command resumes"
            )
        run = RunDir(run_dir)
        by_id = {sample.id: sample for sample in run.samples()}
        ordered = [by_id[instance.id] for instance in instances if instance.id in by_id]
        failures = run.failures()
        no_sample = {i.id: failures.get(i.id, "no sample") for i in instances if i.id not in by_id}
        pred = [by_id[i.id].relation if i.id in by_id else None for i in instances]
        usage = sum((sample.decision.usage for sample in ordered), Usage())
        timed = [timing for timing in run.timings() if timing.cached_calls == 0]
        cost = Cost(
            sentences=len(ordered),
            calls=usage.calls,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            timed_sentences=sum(timing.sentences for timing in timed),
            seconds=sum(timing.seconds for timing in timed),
        )
        results.append(_score(strategy, str(run_dir), gold_labels, pred, schema, no_sample, cost))
        if strategy == "mbre":
            mbre_samples = ordered
    reference = "mbre" if "mbre" in strategies else strategies[0]
    results = _with_ratios(results, reference)
    gold_by_id = {instance.id: label for instance, label in zip(instances, gold_labels, strict=True)}
    judged = [sample.model_copy(update={"gold": gold_by_id[sample.id]}) for sample in mbre_samples]
    widths = sorted({*top_ks, *([base_ctx.route_top_k] if base_ctx.route_top_k else [])})
    return Evaluation(
        run=run_record(files or {}),
        setup=_setup(inventory, base_ctx, limit, seed, len(instances)),
        reference=reference,
        strategies=results,
        epsilon_sweep=epsilon_sweep(judged, schema.no_relation_label, epsilons) if judged else [],
        route=route_replay(judged, [gold_by_id[s.id] for s in judged], inventory, widths) if judged else [],
    )


def _score(
    strategy: Strategy,
    samples: str,
    gold: list[str],
    pred: list[str | None],
    schema: RelationSchema,
    no_sample: dict[str, str],
    cost: Cost,
) -> StrategyResult:
    scores = prf(gold, pred, no_relation=schema.no_relation_label)
    semeval = (
        semeval_official_macro_f1(gold, pred)
        if is_semeval(schema) and any(g != schema.no_relation_label for g in gold)
        else None
    )
    return StrategyResult(
        strategy=strategy,
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
    )


def _with_ratios(results: list[StrategyResult], reference: str) -> list[StrategyResult]:
    (base,) = [r.cost for r in results if r.strategy == reference]
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


def _setup(inventory: Inventory, ctx: MbreContext, limit: int | None, seed: int, sentences: int) -> Setup:
    origin = provenance(inventory, ctx)
    return Setup(
        model=origin.model,
        prompt_hash=origin.prompt_hash,
        schema_hash=origin.schema_hash,
        grouping_hash=origin.grouping_hash,
        groups=[list(group) for group in inventory.grouping.groups],
        no_relation=inventory.schema.no_relation_label,
        settings={name: getattr(ctx, name) for name in RECORDED_SETTINGS},
        limit=limit,
        seed=seed if limit is not None else None,
        sentences=sentences,
    )


def _per(total: int, count: int) -> float:
    return total / count if count else 0.0


def evaluate_student(
    samples: Sequence[Sample],
    test: Sequence[Instance],
    gold_pool: Sequence[Instance],
    *,
    no_relation: str,
    students: Sequence[StudentKind] = ("tfidf",),
    seed: int = 0,
    files: Mapping[str, str | Path] | None = None,
) -> StudentComparison:
    """Train each student on the discovered labels and, as the control, on as many gold-labelled sentences
    drawn from `gold_pool`; score all on `test`. Raises ValueError when either cannot be trained, and
    EmbeddingModelError when the embeddings student is asked for but not installed."""
    instances, labels = training_pairs(samples)
    if not instances:
        raise ValueError("no sample has a label to train on (all abstained)")
    control, control_labels = gold_control(gold_pool, labels, seed=seed)
    # One student object per kind for both training sets, so the embeddings of the test set are computed once.
    made = {kind: _student(kind) for kind in students}
    runs = []
    for trained_on, train, train_labels in (
        ("discovered", instances, labels),
        ("gold", control, control_labels),
    ):
        scores = {
            kind: score_student(student.fit(train, train_labels), test, no_relation=no_relation)
            for kind, student in made.items()
        }
        runs.append(
            StudentRun(
                trained_on=trained_on,  # type: ignore[arg-type]
                train_size=len(train),
                label_distribution=dict(Counter(train_labels).most_common()),
                scores=scores,
            )
        )
    return StudentComparison(
        run=run_record(files or {}),
        samples_provenance=list(dict.fromkeys(sample.provenance for sample in samples)),
        no_relation=no_relation,
        seed=seed,
        test_size=len(test),
        discovered=runs[0],
        gold=runs[1],
    )


def _student(kind: StudentKind) -> Student:
    return TfidfStudent() if kind == "tfidf" else EmbeddingStudent(MiniLM())
