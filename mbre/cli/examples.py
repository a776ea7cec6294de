"""`mbre examples`: examples for relations that have none, written by the model and checked by its own
verifier, into a new relations file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import BaseUrlOpt, ConfidenceOpt, ConfigOpt, ModelOpt, NoRelationOpt, RelationsOpt
from mbre.cli.tables import print_rows
from mbre.errors import SettingError
from mbre.schemas.table import Rows


def examples_command(
    relations: RelationsOpt,
    out: Annotated[
        Path,
        typer.Option(
            help="The relations file with the kept examples added (a new file).", show_default=False
        ),
    ],
    per_relation: Annotated[
        int, typer.Option(min=1, help="Examples a relation should have; one with as many is left alone.")
    ] = 1,
    sentences: Annotated[
        int, typer.Option(min=1, help="Sentences the model writes for each relation that needs examples.")
    ] = 3,
    no_relation: NoRelationOpt = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    confidence: ConfidenceOpt = None,
) -> None:
    """Write --relations to --out with examples for the relations that have fewer than --per-relation:
    the model writes sentences from each definition, and a sentence is kept only if the verifier of
    `discover` says the relation holds in it (as marked, or with head and tail swapped), the most
    confident first. Each kept example names the model that wrote it (`generated_by`); read them before
    a run trusts them."""
    from mbre.cli.options import prepare_models
    from mbre.files import write_atomic
    from mbre.inventory.inventory import Inventory
    from mbre.llm.preflight import check_models
    from mbre.run.config import load_context
    from mbre.run.examples import Written, with_examples, write_examples
    from mbre.schemas.relations import RelationSchema

    if out.resolve() == relations.resolve():
        raise SettingError(f"--out {out}: write to a new file; --relations stays as you wrote it")
    schema = RelationSchema.from_file(relations, no_relation=no_relation)
    ctx = load_context(config, model=model, base_url=base_url, confidence=confidence)
    check_models(ctx)
    ctx = prepare_models(ctx)
    inventory = Inventory.build(schema)

    def done(written: Written) -> None:
        if written.wanted:
            turned = sum(judged.swapped for judged in written.accepted)
            console.print(
                f"{written.label}: {len(written.kept)} of {written.wanted} kept "
                f"({len(written.accepted)} of {written.proposed} sentences accepted, {turned} of them "
                "turned round)",
                highlight=False,
            )

    with console.status("writing examples ..."):
        written = write_examples(inventory, ctx, per_relation=per_relation, count=sentences, on_relation=done)
    document = json.loads(relations.read_text(encoding="utf-8-sig"))
    write_atomic(out, json.dumps(with_examples(document, written), indent=1, ensure_ascii=False) + "\n")
    rows = [[w.label, str(w.proposed), str(len(w.accepted)), str(len(w.kept))] for w in written if w.wanted]
    print_rows(
        Rows(
            title=f"examples written by {ctx.model_name('extraction')}",
            headers=["relation", "sentences written", "accepted", "kept"],
            rows=rows,
        )
    )
    for w in written:
        for judged in w.kept:
            example = judged.example
            console.print(
                f"{w.label}: {example.text} (head: {example.head}; tail: {example.tail})", highlight=False
            )
    calls = sum(w.usage.calls for w in written)
    missing = sum(w.wanted - len(w.kept) for w in written)
    console.print(f"{calls} LLM calls; {missing} examples still missing; written to {out}")
