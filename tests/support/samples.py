"""Hand-made samples and run directories for the commands that read runs (view, review, export): each
decision rule and kind of doubt, a sentence that tries to inject markup, and one with characters outside
the Basic Multilingual Plane before its entities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mbre.schemas.results import Decision, Extraction, Sample, Verdict
from tests.support.data import PROVENANCE


def sample(
    id: str,
    text: str,
    head: str,
    tail: str,
    relation: str | None,
    confidence: float | None = None,
    *,
    rule: str = "single",
    proposed: Sequence[str | None] = (),
    verified: Sequence[tuple[str, bool, float | None]] = (),
    gold: str | None = None,
) -> Sample:
    """A sample whose groups proposed `proposed` (one group each) and whose verifier judged `verified`."""
    h, t = text.index(head), text.index(tail)
    extractions = [
        Extraction(group=g, labels=["founded_by", "ceo_of", "born_in"], label=label, confidence=0.8, raw="{}")
        for g, label in enumerate(proposed)
    ]
    verdicts = [
        Verdict(label=label, holds=holds, confidence=conf, raw="Yes." if holds else "No.")
        for label, holds, conf in verified
    ]
    return Sample(
        id=id,
        text=text,
        head={"name": head, "start": h, "end": h + len(head)},
        tail={"name": tail, "start": t, "end": t + len(tail)},
        relation=relation,
        confidence=confidence,
        gold=gold,
        decision=Decision(
            label=relation,
            confidence=confidence,
            rule=rule,  # type: ignore[arg-type]  # tests pass the rule names as text
            candidates=[label for label, _, _ in verified],
            extractions=extractions,
            verdicts=verdicts,
        ),
        provenance=PROVENANCE,
    )


#: One sample per kind of decision and doubt, in run order.
SAMPLES = [
    sample(
        "s-sure",
        "Microsoft was founded by Bill Gates in 1975.",
        "Microsoft",
        "Bill Gates",
        "founded_by",
        0.97,
        proposed=["founded_by"],
        verified=[("founded_by", True, 0.97)],
        gold="founded_by",
    ),
    sample(
        "s-low",
        "Satya Nadella runs Microsoft.",
        "Satya Nadella",
        "Microsoft",
        "ceo_of",
        0.61,
        proposed=["ceo_of"],
        verified=[("ceo_of", True, 0.61)],
    ),
    sample(
        "s-ambiguous",
        "Ada Lovelace was born in London and lived there.",
        "Ada Lovelace",
        "London",
        None,
        rule="ambiguous",
        proposed=["born_in", "lives_in"],
        verified=[("born_in", True, 0.7), ("lives_in", True, 0.66)],
    ),
    sample("s-abstained", "Acme hired Jane Roe.", "Acme", "Jane Roe", None, rule="abstained"),
    sample(
        "s-disagree",
        "Jonas Lindqvist visited Fjordline Games.",
        "Jonas Lindqvist",
        "Fjordline Games",
        "no_relation",
        rule="no_candidate",
        proposed=["employee_of"],
        verified=[("employee_of", False, 0.9)],
    ),
    sample(
        "s-none",
        "The river Tyne flows past the city of Hexham.",
        "Tyne",
        "Hexham",
        "no_relation",
        rule="no_candidate",
    ),
    sample(
        "s-script",
        "😀 <script>alert('x')</script> Marco Ferri </b> was born in Bologna & Co.",
        "Marco Ferri",
        "Bologna",
        "born_in",
        0.95,
        proposed=["born_in"],
        verified=[("born_in", True, 0.95)],
    ),
]


def write_run(directory: Path, samples: Sequence[Sample] = SAMPLES) -> Path:
    """A run directory holding `samples` as `mbre discover` writes them (the manifest is not needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(s.model_dump(mode="json"), ensure_ascii=False) for s in samples]
    (directory / "samples.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return directory
