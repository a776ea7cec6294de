"""`mbre pairs --ner llm` on the real embedded model (the 0.5B one: a plumbing check, not a quality one):
the model lists entities, mbre places them in the sentence, and every pair's offsets read its names."""

from __future__ import annotations

import json

import pytest

from mbre.schemas.instances import read_instances
from tests.support.data import EXAMPLES
from tests.support.processes import run_mbre
from tests.support.tables import figures

pytestmark = pytest.mark.llm

DOCUMENTS = [
    {"id": "d1", "text": "Marie Curie was born in Warsaw. She worked at the University of Paris."},
    {"id": "d2", "text": "Steve Jobs founded Apple in California."},
]


def test_the_embedded_model_marks_entities_whose_offsets_read_their_names(tmp_path):
    documents, out = tmp_path / "documents.jsonl", tmp_path / "pairs.jsonl"
    documents.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS))
    result = run_mbre(
        "pairs",
        "--input",
        str(documents),
        "--relations",
        str(EXAMPLES / "relations.json"),
        "--out",
        str(out),
        "--ner",
        "llm",
        "--model",
        "local:qwen2.5-coder-0.5b",
        cache=tmp_path / "cache.sqlite",
    )
    assert result.returncode == 0, result.stderr
    summary = figures(result.stdout)
    assert summary["sentences"] == "3" and int(summary["LLM calls"]) >= 3
    pairs = read_instances(out)  # refuses any span whose offsets do not read its name
    assert pairs, summary
    for pair in pairs:
        assert pair.head.type and pair.tail.type
        source = next(d for d in DOCUMENTS if d["id"] == pair.extra["source"]["id"])
        offset = pair.extra["source"]["offset"]
        assert source["text"][offset : offset + len(pair.text)] == pair.text
