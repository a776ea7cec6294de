"""`mbre pairs`: turn an annotated corpus, CoNLL tags or plain text into discover's input, one line per
candidate entity pair, with a summary of what was kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import BaseUrlOpt, ConfigOpt, ModelOpt, NoRelationOpt, RelationsOpt
from mbre.cli.tables import print_rows
from mbre.schemas.options import PairsInput

if TYPE_CHECKING:
    from mbre.pairs.finders import EntityFinder
    from mbre.schemas.relations import RelationSchema


def pairs_command(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="Entity-annotated JSON Lines, a CoNLL file (--format conll), or plain text / JSON Lines of "
            '{"id", "text"} with --ner.',
            show_default=False,
        ),
    ],
    relations: RelationsOpt,
    out: Annotated[
        Path, typer.Option(help="Where to write the pairs (discover's input).", show_default=False)
    ],
    input_format: Annotated[
        PairsInput,
        typer.Option(
            "--format", help="auto, jsonl, text or conll (auto: by the file's name and first byte)."
        ),
    ] = "auto",
    ner: Annotated[
        str | None,
        typer.Option(
            help="Entity finder for text without entities: spacy:PIPELINE (installed), "
            "rules:patterns.jsonl (EntityRuler patterns) or llm (the configured model)."
        ),
    ] = None,
    split_sentences: Annotated[
        bool, typer.Option(help="Split annotated lines into sentences too (plain text always is).")
    ] = False,
    max_pairs: Annotated[
        int | None, typer.Option(min=1, help="Keep at most N pairs a sentence: the nearest entities.")
    ] = None,
    no_relation: NoRelationOpt = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Write every ordered pair of two different entities of a sentence as a line of discover's input (id,
    text, head, tail with their types, source), leaving out pairs whose types fit no relation of
    --relations, and print what was kept."""
    from mbre.files import ensure_dir, write_atomic
    from mbre.pairs.candidates import PairCounts, make_pairs
    from mbre.pairs.documents import read_documents
    from mbre.pairs.finders import parse_ner
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(relations, no_relation=no_relation)
    documents = read_documents(input, input_format)
    finder = None
    if ner is not None:
        kind, argument = parse_ner(ner)
        finder = _finder(kind, argument, schema, config, model, base_url)
    counts = PairCounts()
    lines = [
        json.dumps(line, ensure_ascii=False)
        for line in make_pairs(
            documents,
            schema,
            source=str(input),
            finder=finder,
            split=split_sentences,
            max_pairs=max_pairs,
            counts=counts,
        )
    ]
    ensure_dir(out.parent)
    write_atomic(out, "".join(line + "\n" for line in lines))
    print_rows(counts.rows(f"pairs from {input}"))
    console.print(f"{counts.written} pairs written to {out}")


def _finder(
    kind: str,
    argument: str,
    schema: RelationSchema,
    config: Path | None,
    model: str | None,
    base_url: str | None,
) -> EntityFinder:
    from mbre.pairs.finders import rules_finder, spacy_finder

    if kind == "spacy":
        return spacy_finder(argument)
    if kind == "rules":
        return rules_finder(Path(argument))
    from mbre.cli.options import prepare_models
    from mbre.llm.preflight import check_models
    from mbre.pairs.marking import llm_finder
    from mbre.run.config import load_context

    ctx = load_context(config, model=model, base_url=base_url)
    check_models(ctx)
    prepare_models(ctx)
    types = sorted({t for r in schema.positive for t in (*(r.head_types or ()), *(r.tail_types or ()))})
    return llm_finder(ctx, types, retries=ctx.parse_retries)
