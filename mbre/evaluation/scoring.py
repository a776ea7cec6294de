"""`mbre score`: a finished run scored against the gold labels its own input carried (each sample's `gold`),
in the report `mbre evaluate` writes, without an LLM call: the run's samples are read, never asked again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from mbre.errors import InputError
from mbre.evaluation.records import run_record
from mbre.evaluation.replays import epsilon_sweep
from mbre.evaluation.strategies import Evaluation, Setup, judge_run, with_ratios
from mbre.run.rundir import Manifest, RunDir
from mbre.schemas.options import EPSILONS, Arm
from mbre.schemas.relations import RelationSchema


def score_run(
    run_dir: Path, schema: RelationSchema, files: Mapping[str, str | Path] | None = None
) -> Evaluation:
    """Score the samples whose input line had a gold label (`relation`); the others are left out. One run
    holds one arm, named `strategy:policy` after its samples' provenance. The epsilon sweep is replayed for
    a run with the paper's rule; the routing replay needs the inventory, which `mbre evaluate` has."""
    run = RunDir(run_dir)
    if not run.samples_file.exists():
        raise InputError(str(run_dir), "not a run directory: it has no samples.jsonl")
    samples = run.samples()
    judged = [sample for sample in samples if sample.gold is not None]
    if not judged:
        raise InputError(
            str(run.samples_file),
            "no sample has a gold label: the run's input lines had no `relation` field. Score gold data "
            "with `mbre evaluate --gold`",
        )
    strays = [sample.id for sample in judged if sample.gold not in schema.labels]
    if strays:
        raise InputError(
            str(run.samples_file),
            f"{len(strays)} gold labels are not in the relation schema, e.g. that of {strays[0]!r}",
            field="gold",
        )
    made = {(s.provenance.strategy, s.provenance.decision_policy) for s in judged}
    if len(made) > 1:
        raise InputError(str(run.samples_file), f"the samples come from several arms: {sorted(made)}")
    ((strategy, decision),) = made
    arm = Arm(name=f"{strategy}:{decision}", strategy=strategy, decision=decision)
    gold = [str(sample.gold) for sample in judged]
    result, replayed = judge_run(arm, decision, run_dir, [s.id for s in judged], gold, schema)
    origin = judged[0].provenance
    setup = Setup(
        model=", ".join(sorted({s.provenance.model for s in judged})),
        prompt_hash=origin.prompt_hash,
        schema_hash=origin.schema_hash,
        grouping_hash=origin.grouping_hash,
        groups=[],
        no_relation=schema.no_relation_label,
        settings=_settings(run),
        limit=None,
        seed=None,
        sentences=len(judged),
    )
    paper = strategy == "mbre" and decision == "paper"
    return Evaluation(
        run=run_record({"samples": run.samples_file, **(files or {})}),
        setup=setup,
        reference=arm.name,
        strategies=with_ratios([result], arm.name),
        epsilon_sweep=epsilon_sweep(replayed, schema.no_relation_label, EPSILONS) if paper else [],
        route=[],
    )


def _settings(run: RunDir) -> dict[str, object]:
    """The run's settings as its manifest recorded them; none for a run without one."""
    if not run.manifest_file.exists():
        return {}
    try:
        return dict(Manifest.model_validate_json(run.manifest_file.read_bytes()).settings)
    except ValidationError as exc:
        raise InputError(str(run.manifest_file), f"not an mbre manifest: {exc.errors()[0]['msg']}") from exc
