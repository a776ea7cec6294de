"""What the `mbre` commands share: option types, and loading the inventory, the input, the settings and
the models.

Only typing and typer here at import time: `mbre --help` must not pay for the graph, FAISS or scikit-learn,
so the loaders import them when a command runs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console
from mbre.schemas.options import (
    BadInputPolicy,
    BalanceRule,
    ConfidenceMode,
    DecisionPolicy,
    GoldFormat,
    KeepRule,
    Strategy,
)

if TYPE_CHECKING:
    from mbre.errors import InputError
    from mbre.graph.context import MbreContext
    from mbre.inventory.inventory import Inventory
    from mbre.schemas.instances import Instance

RelationsOpt = Annotated[
    Path, typer.Option("--relations", help="Relation schema (JSON).", show_default=False)
]
NoRelationOpt = Annotated[
    str | None, typer.Option("--no-relation", help="The no-relation label, if the schema marks none.")
]
InputOpt = Annotated[Path, typer.Option("--input", help="Sentences (JSON Lines).", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option(help="Settings file (mbre.toml).")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="provider:model: local, openai:gpt-4o-mini, or any init_chat_model provider (anthropic:, "
        "google_genai:, ollama:, ...; docs/providers.md)."
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        help="The provider's endpoint: any OpenAI-compatible server for openai:, or another server."
    ),
]
BaseUrlsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        help="The provider's endpoint (any OpenAI-compatible server for openai:, or another server); given "
        "again, a fleet of servers of the same model.",
    ),
]
StrategyOpt = Annotated[Strategy | None, typer.Option(help="mbre, or a baseline: multiclass, binary.")]
DecisionOpt = Annotated[
    DecisionPolicy | None,
    typer.Option(help="calibrated (scores, thresholds), paper (the paper's rule) or first."),
]
ConfidenceOpt = Annotated[
    ConfidenceMode | None,
    typer.Option(
        help="Where confidences come from: auto (token probabilities, else sampled answers), logprobs, "
        "sampled, verbalized (the model states it) or none.",
        show_default=False,
    ),
]
ThresholdOpt = Annotated[
    float | None, typer.Option(help="decision=calibrated: the score a label needs (default 0.75).")
]
ThresholdsOpt = Annotated[
    Path | None,
    typer.Option(help="decision=calibrated: per-relation thresholds, as `mbre calibrate` writes them."),
]
SeedsOpt = Annotated[
    Path | None,
    typer.Option(help="Labelled sentences (JSON Lines) to show as examples, the nearest first."),
]
ShotsOpt = Annotated[int | None, typer.Option(help="Examples shown per relation (default 1).")]
RouteTopKOpt = Annotated[int | None, typer.Option(help="Ask only the groups of the k nearest relations.")]
GroupingOpt = Annotated[Path | None, typer.Option(help="Use a saved grouping artifact.")]
OnBadInputOpt = Annotated[
    BadInputPolicy,
    typer.Option(help="fail: stop at the first bad line; skip: quarantine bad lines and go on."),
]
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Sentences in flight at once.")]
NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache", help="Neither read nor write the LLM-call cache (e.g. while its file is damaged)."
    ),
]
ReportDirOpt = Annotated[
    Path,
    typer.Option(
        "--report-dir", help="Where to write report.md, report.json and charts.", show_default=False
    ),
]
FormatOpt = Annotated[
    GoldFormat, typer.Option("--format", help="Gold file format: auto, jsonl, semeval, tacred.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random draw.")]
RunArg = Annotated[
    Path, typer.Argument(help="A run directory (or the samples.jsonl it holds).", show_default=False)
]
SchemaOpt = Annotated[
    Path | None,
    typer.Option(
        "--relations",
        help="Relation schema (JSON); default: the one the run kept. One of another hash is refused.",
    ),
]
KeepOpt = Annotated[
    KeepRule,
    typer.Option(
        help="Which discovered labels to take: confident (not the no-relation labels that only say no "
        "candidate reached its threshold), positive (no no-relation label), or all."
    ),
]
BalanceOpt = Annotated[
    BalanceRule,
    typer.Option(
        help="cap: every class at the mean count of the positive classes; na-downsample: only the "
        "no-relation class; none."
    ),
]
MinConfidenceOpt = Annotated[
    float | None, typer.Option(help="Leave out discovered labels below this confidence.")
]


def load_inventory(
    relations: Path,
    no_relation: str | None,
    k: int | None,
    refine: bool,
    grouping_file: Path | None,
    seeds: Path | None = None,
) -> Inventory:
    from mbre.inventory.grouping import Grouping, group_relations
    from mbre.inventory.inventory import Inventory
    from mbre.schemas.instances import read_instances
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(relations, no_relation=no_relation)
    grouping = (
        Grouping.load(grouping_file, schema) if grouping_file else group_relations(schema, k, refine=refine)
    )
    examples = read_instances(seeds) if seeds is not None else []
    return Inventory.build(schema, grouping, seeds=examples, seeds_source=str(seeds))


def _decision_settings(
    inventory: Inventory, threshold: float | None, thresholds: Path | None
) -> dict[str, object]:
    """`--threshold` and `--thresholds FILE` as context settings: the file's per-label thresholds and its
    default, which an explicit `--threshold` overrides. Empty when neither is given."""
    settings: dict[str, object] = {}
    if thresholds is not None:
        from mbre.schemas.thresholds import Thresholds

        picked = Thresholds.from_file(thresholds)
        picked.check_schema(inventory.schema, str(thresholds))
        settings = {"threshold": picked.default, "thresholds": picked.pairs()}
    if threshold is not None:
        settings["threshold"] = threshold
    return settings


def load_checked_context(
    config: Path | None,
    inventory: Inventory,
    *,
    model: str | None,
    base_url: str | None,
    strategy: Strategy | None = None,
    decision: DecisionPolicy | None,
    epsilon: float | None,
    threshold: float | None,
    thresholds: Path | None,
    shots: int | None,
    route_top_k: int | None,
    no_cache: bool,
    fleet: list[str] | None = None,
    narrow_by_type: bool | None = None,
    confidence: ConfidenceMode | None = None,
) -> MbreContext:
    """The settings of a command that labels (--config, then the flags; None: not given), refused at once
    when the inventory's prompts overflow the model or the model cannot run (a bad model string, an unknown
    embedded model, a missing API key): before a run directory is created or locked. The prompts are counted
    by the model's tokenizer, which for `local` joins (or starts) the embedded server; no LLM call."""
    from mbre.llm.preflight import check_models
    from mbre.run.config import load_context
    from mbre.run.discover import check_schema_fits

    ctx = load_context(
        config,
        model=model,
        base_url=base_url,
        strategy=strategy,
        decision=decision,
        epsilon=epsilon,
        shots=shots,
        route_top_k=route_top_k,
        narrow_by_type=narrow_by_type,
        confidence=confidence,
        cache=False if no_cache else None,
        fleet=tuple(fleet) if fleet else None,
        **_decision_settings(inventory, threshold, thresholds),
    )
    check_models(ctx)  # first: the schema check counts with the model's tokenizer (mbre.llm.tokens)
    check_schema_fits(inventory, ctx)
    return ctx


def read_input(path: Path, policy: BadInputPolicy) -> tuple[list[Instance], list[InputError], str]:
    """The sentences, the bad lines skipped (`skip`), and the sha256 of the bytes read: the file is read
    once, so a pipe or /dev/stdin is hashed as it was read, not as an empty second read."""
    from mbre.schemas.instances import read_instances, read_source

    data = read_source(path)
    bad: list[InputError] = []
    instances = read_instances(path, bad.append if policy == "skip" else None, data=data)
    for error in bad[:5]:
        console.print(f"[yellow]skipped[/] {error}", highlight=False)
    if len(bad) > 5:
        console.print(f"[yellow]skipped[/] {len(bad) - 5} more bad lines", highlight=False)
    return instances, bad, hashlib.sha256(data).hexdigest()


def prepare_models(ctx: MbreContext) -> MbreContext:
    """Build both roles' models (starting the embedded server) and check their cache and endpoint once,
    before any progress clock starts and before the first sentence (`mbre.llm.preflight`); the settings
    with the confidence source settled there, said in one line."""
    import dataclasses

    from mbre.llm.preflight import confidence_note, preflight
    from mbre.prompts.render import probe_messages

    with console.status(f"preparing {ctx.model} ..."):
        confidence = preflight(ctx, probe_messages())
    console.print(confidence_note(confidence, ctx), highlight=False)
    return dataclasses.replace(ctx, confidence=confidence)
