"""The run's HTML page: one file with its CSS, script and data inline, so it opens from disk with no server
and no network. The samples go in as JSON inside a `<script type="application/json">` element, with `<`,
`>` and `&` escaped so no sentence can close it; the script builds the page with text nodes only, so no
sentence is ever parsed as HTML."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Sample

_SLOT = re.compile(r"\{\{(\w+)\}\}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def render_page(
    samples: Sequence[Sample], *, title: str, run: dict[str, Any], schema: RelationSchema | None = None
) -> str:
    """The page for `samples`; `run` holds a few facts about the run (source, model, hashes) shown at top;
    the schema, when known, orders the label filter and gives each label its definition."""
    assets = files("mbre.view") / "assets"
    data = {
        "title": title,
        "run": run,
        "schema": None if schema is None else schema_facts(schema),
        "samples": [sample.model_dump(mode="json") for sample in samples],
    }
    slots = {
        "title": html.escape(title),
        "css": (assets / "page.css").read_text(encoding="utf-8"),
        "js": (assets / "page.js").read_text(encoding="utf-8"),
        "data": embedded_json(data),
    }
    template = (assets / "page.html").read_text(encoding="utf-8")
    return _SLOT.sub(lambda match: slots[match[1]], template)  # one pass: a slot's text is never re-read


def embedded_json(value: Any) -> str:
    """JSON that is safe inside a script element: nothing in it can end the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(_JSON_ESCAPES.get(char, char) for char in text)


def schema_facts(schema: RelationSchema) -> dict[str, Any]:
    """The labels in schema order with their definitions, and the no-relation label."""
    return {
        "labels": [[relation.label, relation.description] for relation in schema.relations],
        "no_relation": schema.no_relation_label,
    }


def run_facts(samples: Sequence[Sample], source: str) -> dict[str, Any]:
    """The line at the top of the page: where the samples come from, how many, by which model and policy."""
    labelled = sum(sample.relation is not None for sample in samples)
    return {
        "source": source,
        "samples": len(samples),
        "labelled": labelled,
        "abstained": len(samples) - labelled,
        "model": ", ".join(sorted({s.provenance.model for s in samples})),
        "strategy": ", ".join(sorted({s.provenance.strategy for s in samples})),
        "mbre": ", ".join(sorted({s.provenance.mbre_version for s in samples})),
    }
