"""Review in Label Studio: the labelling config, the tasks (one per sample, mbre's label as a scored
prediction) and the reading of Label Studio's JSON export back into gold sentences.

The config is a single-choice question over the sentence, not Label Studio's Labels/Relations pair: the
entities are already known, so a reviewer only has to pick (or confirm) one relation. The head and tail are
highlighted in the sentence and named above it, each relation's definition is its choice's hint, and mbre's
label comes as a prediction of model version `mbre`: with the project set to pre-label from that version,
it is pre-selected, so agreeing costs one submit and disagreeing one click more.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mbre.dataset.selection import Doubt
from mbre.errors import InputError, MbreError
from mbre.schemas.instances import Instance, Span, parse_instance
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Sample

#: The names the config gives its sentence and its question; the import reads answers by them.
SENTENCE = "sentence"
RELATION = "relation"
#: The model version of mbre's predictions: the project pre-labels tasks from the version it names.
MODEL_VERSION = "mbre"
_MARK = '<span style="background:{color};padding:0 2px;border-radius:3px">{name}<sub>{role}</sub></span>'
_COLORS = {"head": "#ffd8a8", "tail": "#a5d8ff"}


class LabelStudioExportError(InputError):
    """A Label Studio export that cannot be read back: the message names the task and the field."""

    def __init__(self, source: str, message: str, *, task: int, field: str, task_id: object = None):
        self.task = task
        named = f"task {task}" + (f" (Label Studio id {task_id})" if task_id is not None else "")
        super().__init__(source, f"{named}: field '{field}': {message}")
        self.field = field


def label_config(choices: Sequence[tuple[str, str | None]]) -> str:
    """The labelling config XML: the highlighted sentence, the entity pair, one radio choice per (label,
    definition), the definition as its hint."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="Which relation holds from the head to the tail?")
    ET.SubElement(view, "Text", name="pair", value="$pair")
    ET.SubElement(view, "HyperText", name=SENTENCE, value="$html", inline="true")
    question = ET.SubElement(
        view, "Choices", name=RELATION, toName=SENTENCE, choice="single-radio", required="true"
    )
    for label, definition in choices:
        choice = ET.SubElement(question, "Choice", value=label)
        if definition:
            choice.set("hint", definition)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def choices_of(schema: RelationSchema | None, samples: Sequence[Sample]) -> list[tuple[str, str | None]]:
    """Every label of the schema with its definition; without one, every label the run offered or decided
    (groups offer all of them unless routing skipped some), without definitions."""
    if schema is not None:
        return [(relation.label, relation.description) for relation in schema.relations]
    seen: set[str] = set()
    for sample in samples:
        seen.update(label for extraction in sample.decision.extractions for label in extraction.labels)
        seen.update(verdict.label for verdict in sample.decision.verdicts)
        seen.update([sample.relation] if sample.relation is not None else [])
    return [(label, None) for label in sorted(seen)]


def marked_html(text: str, head: Span, tail: Span) -> str:
    """The sentence as HTML, every character escaped, the head and tail highlighted and named."""
    parts, at = [], 0
    for role, span in sorted([("head", head), ("tail", tail)], key=lambda item: item[1].start):
        parts.append(html.escape(text[at : span.start]))
        parts.append(_MARK.format(color=_COLORS[role], name=html.escape(span.name), role=role))
        at = span.end
    parts.append(html.escape(text[at:]))
    return "".join(parts)


def to_task(sample: Sample, doubt: Doubt) -> dict[str, Any]:
    """One Label Studio task; `mbre_id` and the spans come back in the export, so the import needs nothing
    else. mbre's label is a prediction whose score is its confidence, so reviewers can sort by it."""
    task: dict[str, Any] = {
        "data": {
            "mbre_id": sample.id,
            "text": sample.text,
            "head": sample.head.model_dump(),
            "tail": sample.tail.model_dump(),
            "html": marked_html(sample.text, sample.head, sample.tail),
            "pair": f"head: {sample.head.name}  ->  tail: {sample.tail.name}",
            "mbre_label": sample.relation or "(none: mbre abstained)",
            "mbre_confidence": sample.confidence,
            "mbre_rule": sample.decision.rule,
            "mbre_model": sample.provenance.model,
            "doubt": doubt.reason,
        }
    }
    if sample.relation is not None:
        task["predictions"] = [
            {
                "model_version": MODEL_VERSION,
                "score": sample.confidence if sample.confidence is not None else 0.0,
                "result": [
                    {
                        "from_name": RELATION,
                        "to_name": SENTENCE,
                        "type": "choices",
                        "value": {"choices": [sample.relation]},
                    }
                ],
            }
        ]
    return task


def read_export(path: str | Path) -> tuple[list[Instance], int]:
    """Label Studio's JSON export as gold sentences, and how many tasks had no submitted answer (skipped or
    not yet done). Of several answers to a task, the most recently updated one counts."""
    source = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(source, f"not Label Studio's JSON export: {exc}") from exc
    return parse_export(document, source)


def parse_export(document: object, source: str) -> tuple[list[Instance], int]:
    """`read_export` of the export already decoded (as the SDK returns it); `source` names it in errors."""
    if not isinstance(document, list):
        raise InputError(source, "not Label Studio's JSON export: expected a list of tasks")
    instances: list[Instance] = []
    seen: dict[str, int] = {}
    unanswered = 0
    for number, task in enumerate(document, start=1):
        instance = _read_task(task, source, number)
        if instance is None:
            unanswered += 1
            continue
        if instance.id in seen:
            raise LabelStudioExportError(
                source,
                f"mbre id {instance.id!r} again (first in task {seen[instance.id]})",
                task=number,
                field="data.mbre_id",
                task_id=task.get("id"),
            )
        seen[instance.id] = number
        instances.append(instance)
    return instances, unanswered


def _read_task(task: object, source: str, number: int) -> Instance | None:
    def fail(field: str, message: str) -> MbreError:
        task_id = task.get("id") if isinstance(task, dict) else None
        return LabelStudioExportError(source, message, task=number, field=field, task_id=task_id)

    if not isinstance(task, dict):
        raise fail("(task)", "expected a JSON object")
    data = task.get("data")
    if not isinstance(data, dict):
        raise fail("data", "missing or not an object")
    for key in ("mbre_id", "text", "head", "tail"):
        if key not in data:
            raise fail(f"data.{key}", "missing (was the task made by `mbre review export`?)")
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list):
        raise fail("annotations", "expected a list")
    answered = [
        (index, a)
        for index, a in enumerate(annotations)
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    if not answered:
        return None
    index, annotation = max(answered, key=lambda item: (str(item[1].get("updated_at") or ""), item[0]))
    label = _choice(annotation.get("result"), f"annotations[{index}].result", fail)
    record = {"id": data["mbre_id"], "text": data["text"], "head": data["head"], "tail": data["tail"]}
    try:
        return parse_instance({**record, "relation": label}, source=source, line=number)
    except InputError as error:
        raise fail(f"data.{error.field or 'mbre_id'}", error.reason) from error


def _choice(result: object, field: str, fail: Callable[[str, str], MbreError]) -> str:
    if not isinstance(result, list):
        raise fail(field, "expected a list of results")
    for position, item in enumerate(result):
        if isinstance(item, dict) and item.get("from_name") == RELATION:
            value = item.get("value")
            choices = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
                raise fail(f"{field}[{position}].value.choices", f"expected one label, found {choices!r}")
            return choices[0]
    raise fail(field, f"no answer to the '{RELATION}' question")
