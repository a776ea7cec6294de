"""`mbre types`, `mbre pairs` and their output through `discover` and `export`, in-process, the model an
OpenAI-compatible stub on loopback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.fakes import gold_script, text_of
from tests.support.openai_stub import stub_server
from tests.support.tables import figures

runner = CliRunner()

RELATIONS = [
    {"relation": "works_for", "description": "The head works for the tail."},
    {"relation": "born_in", "description": "The head was born in the tail."},
    {"relation": "NA", "description": "No relation holds between the head and the tail."},
]
CORPUS = [
    {
        "id": "c1",
        "text": "Ada , born in London , works for Acme .",
        "entities": [
            {"name": "Ada", "start": 0, "end": 3, "type": "person"},
            {"name": "London", "start": 14, "end": 20, "type": "place"},
            {"name": "Acme", "start": 33, "end": 37, "type": "org"},
        ],
        "relations": [
            {"head": 0, "tail": 1, "labels": ["born_in"]},
            {"head": 0, "tail": 2, "labels": ["works_for"]},
        ],
        "domain": "news",
    },
    {
        "id": "c2",
        "text": "Bob works for Initech in Paris .",
        "entities": [
            {"name": "Bob", "start": 0, "end": 3, "type": "person"},
            {"name": "Initech", "start": 14, "end": 21, "type": "org"},
            {"name": "Paris", "start": 25, "end": 30, "type": "place"},
        ],
        "relations": [{"head": 0, "tail": 1, "labels": ["works_for"]}],
        "domain": "news",
    },
]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "relations.json").write_text(json.dumps(RELATIONS, indent=1))
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in CORPUS))
    return tmp_path


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_from_an_annotated_corpus_to_typed_samples_and_a_tacred_export(files):
    invoke(
        "types",
        "--relations",
        files / "relations.json",
        "--examples",
        files / "corpus.jsonl",
        "--out",
        files / "typed.json",
    )
    typed = RelationSchema.from_file(files / "typed.json")
    assert typed.get("works_for").head_types == ("person",) and typed.get("born_in").tail_types == ("place",)

    result = invoke(
        "pairs",
        "--input",
        files / "corpus.jsonl",
        "--relations",
        files / "typed.json",
        "--out",
        files / "pairs.jsonl",
    )
    pairs = read_instances(files / "pairs.jsonl")
    # 12 ordered pairs; only person -> place (born_in) and person -> org (works_for) fit.
    assert [(p.head.name, p.tail.name, p.relation) for p in pairs] == [
        ("Ada", "London", "born_in"),
        ("Ada", "Acme", "works_for"),
        ("Bob", "Initech", "works_for"),
        ("Bob", "Paris", "NA"),
    ]
    assert pairs[0].extra == {"source": {"id": "c1", "offset": 0}, "domain": "news"}
    summary = figures(result.output)
    assert (
        summary["pairs before the type constraints"] == "12"
        and summary["dropped: types fit no relation"] == "8"
    )
    assert summary["pairs per sentence"] == "2.00"

    with stub_server(gold_script(typed, pairs)) as server:
        invoke(
            "discover",
            "--relations",
            files / "typed.json",
            "--input",
            files / "pairs.jsonl",
            "--run-dir",
            files / "run",
            "--model",
            "openai:stub-model",
            "--base-url",
            server.base_url,
            "--narrow-by-type",
        )
    samples = {
        s["id"]: s for s in map(json.loads, (files / "run" / "samples.jsonl").read_text().splitlines())
    }
    assert {i: s["relation"] for i, s in samples.items()} == {
        "c1:0-1": "born_in",
        "c1:0-2": "works_for",
        "c2:0-1": "works_for",
        "c2:0-2": "NA",
    }
    assert samples["c1:0-1"]["head"]["type"] == "person" and samples["c1:0-1"]["source"] == {
        "id": "c1",
        "offset": 0,
    }
    assert samples["c1:0-1"]["decision"]["offered"] == ["born_in"]

    invoke("export", files / "run", "--format", "tacred", "--out", files / "data", "--balance", "none")
    rows = {r["id"]: r for r in json.loads((files / "data" / "train.json").read_text())}
    assert {i: (r["subj_type"], r["obj_type"]) for i, r in rows.items()} == {
        "c1:0-1": ("person", "place"),
        "c1:0-2": ("person", "org"),
        "c2:0-1": ("person", "org"),
        "c2:0-2": ("person", "place"),
    }


def test_conll_and_plain_text_with_rules_and_the_cap(files):
    (files / "ner.conll").write_text("Ada B-person\nmet O\nBob B-person\nat O\nAcme U-org\n. O\n")
    invoke(
        "pairs",
        "--input",
        files / "ner.conll",
        "--relations",
        files / "relations.json",
        "--out",
        files / "c.jsonl",
        "--max-pairs",
        "4",
    )
    conll = read_instances(files / "c.jsonl")
    assert len(conll) == 4 and {p.head.type for p in conll} <= {"person", "org"}

    (files / "notes.txt").write_text("Ada met Bob at Acme. Later, Bob left Acme.\n")
    (files / "patterns.jsonl").write_text(
        "".join(
            json.dumps(p) + "\n"
            for p in (
                {"label": "person", "pattern": "Ada"},
                {"label": "person", "pattern": "Bob"},
                {"label": "org", "pattern": "Acme"},
            )
        )
    )
    invoke(
        "pairs",
        "--input",
        files / "notes.txt",
        "--relations",
        files / "relations.json",
        "--out",
        files / "t.jsonl",
        "--ner",
        f"rules:{files / 'patterns.jsonl'}",
    )
    text = read_instances(files / "t.jsonl")
    assert len(text) == 6 + 2  # 3 entities in the first sentence, 2 in the second
    assert text[-1].text == "Later, Bob left Acme." and text[-1].extra["source"] == {
        "id": "notes",
        "offset": 21,
    }


def test_the_model_marks_entities_over_http(files, monkeypatch):
    (files / "docs.jsonl").write_text(json.dumps({"id": "d1", "text": "Ada works for Acme."}) + "\n")

    def script(messages, schema_name):
        assert "Sentence: Ada works for Acme." in text_of(messages)
        return "Ada | person\nAcme | org\nGlobex | org"

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with stub_server(script) as server:
        result = invoke(
            "pairs",
            "--input",
            files / "docs.jsonl",
            "--relations",
            files / "relations.json",
            "--out",
            files / "p.jsonl",
            "--ner",
            "llm",
            "--model",
            "openai:stub-model",
            "--base-url",
            server.base_url,
        )
    pairs = read_instances(files / "p.jsonl")
    assert [(p.head.name, p.tail.name) for p in pairs] == [("Ada", "Acme"), ("Acme", "Ada")]
    assert figures(result.output)["entities not in the text, left out"] == "1"


def test_bad_input_is_one_line_naming_file_line_and_field(files):
    (files / "bad.jsonl").write_text(json.dumps({"id": "x", "text": "Ada."}) + "\n")
    result = runner.invoke(
        app,
        [
            "pairs",
            "--input",
            str(files / "bad.jsonl"),
            "--relations",
            str(files / "relations.json"),
            "--out",
            str(files / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert f"{files / 'bad.jsonl'}:1: field 'entities': the document has no entities" in " ".join(
        result.output.split()
    )


def test_the_shipped_text_and_patterns_give_the_pairs_the_docs_show(tmp_path):
    out = tmp_path / "pairs.jsonl"
    patterns = EXAMPLES / "patterns.jsonl"
    args = ["--input", EXAMPLES / "notes.txt", "--ner", f"rules:{patterns}", "--out", out]
    result = invoke("pairs", "--relations", EXAMPLES / "relations.json", *args)
    assert figures(result.output)["sentences"] == "4" and figures(result.output)["pairs written"] == "16"
    text = (EXAMPLES / "notes.txt").read_text()
    for pair in read_instances(out):
        offset = pair.extra["source"]["offset"]
        assert text[offset : offset + len(pair.text)] == pair.text
        assert pair.head.type in {"person", "organization", "place"}
