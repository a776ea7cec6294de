"""Every bad input is refused before any LLM call, with the file, the line and the field."""

from __future__ import annotations

import json

import pytest

from mbre.errors import InputError
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema

GOOD = {
    "id": "a",
    "text": "Smoke comes from fire.",
    "head": {"name": "Smoke", "start": 0, "end": 5},
    "tail": {"name": "fire", "start": 17, "end": 21},
}


def write_schema(tmp_path, relations) -> str:
    path = tmp_path / "relations.json"
    path.write_text(json.dumps(relations, indent=1))
    return str(path)


def test_schema_with_duplicate_labels(tmp_path):
    path = write_schema(
        tmp_path,
        [
            {"relation": "a", "description": "x"},
            {"relation": "a", "description": "y"},
            {"relation": "Other", "description": "z"},
        ],
    )
    with pytest.raises(InputError) as info:
        RelationSchema.from_file(path)
    assert str(info.value) == f"{path}:6: field 'label': duplicate label 'a' (entry 2; first at entry 1)"


def test_schema_without_no_relation_label(tmp_path):
    path = write_schema(
        tmp_path, [{"relation": "a", "description": "x"}, {"relation": "b", "description": "y"}]
    )
    with pytest.raises(InputError, match=r"field 'no_relation': no no-relation label"):
        RelationSchema.from_file(path)
    assert RelationSchema.from_file(path, no_relation="b").no_relation_label == "b"


def test_schema_with_empty_description_names_line_and_field(tmp_path):
    path = write_schema(
        tmp_path,
        [
            {"relation": "a", "description": "x"},
            {"relation": "b", "description": "  "},
            {"relation": "Other", "description": "z"},
        ],
    )
    with pytest.raises(InputError) as info:
        RelationSchema.from_file(path)
    assert info.value.line == 8 and info.value.field == "description"
    assert str(info.value) == f"{path}:8: field 'description': must not be empty"


def test_schema_marked_no_relation_and_object_form(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps(
            {
                "no_relation": "none_of_these",
                "relations": [
                    {"label": "a", "description": "x"},
                    {"label": "none_of_these", "description": "y"},
                ],
            }
        )
    )
    assert RelationSchema.from_file(path).no_relation_label == "none_of_these"


def test_schema_that_is_not_json(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('[\n{"relation": "a",\n "description": }\n]')
    with pytest.raises(InputError) as info:
        RelationSchema.from_file(path)
    assert info.value.line == 3


def write_lines(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "sentences.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def with_changes(**changes) -> str:
    record = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        target, _, field = key.partition("__")
        if field:
            record[target][field] = value
        else:
            record[target] = value
    return json.dumps(record)


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (with_changes(head__name="Smok"), "head", "span 0..5 reads 'Smoke', not 'Smok'"),
        (with_changes(tail__end=40), "tail", "span 17..40 is out of range (text has 22 characters)"),
        (
            with_changes(tail__start=2, tail__end=5, tail__name="oke"),
            "tail",
            "the head and tail spans overlap",
        ),
        (with_changes(head__start=-1), "head.start", "Input should be greater than or equal to 0"),
        (with_changes(id=""), "id", "String should have at least 1 character"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "tail"}), "tail", "Field required"),
    ],
)
def test_bad_sentence_names_file_line_and_field(tmp_path, line, field, message):
    path = write_lines(tmp_path, [json.dumps(GOOD), "", line])
    with pytest.raises(InputError) as info:
        read_instances(path)
    assert str(info.value) == f"{path}:3: field '{field}': {message}"


def test_malformed_json_line(tmp_path):
    path = write_lines(tmp_path, [json.dumps(GOOD), '{"id": "b", "text": '])
    with pytest.raises(InputError, match=rf"^{path}:2: not valid JSON: Expecting value \(column 21\)$"):
        read_instances(path)


def test_duplicate_ids_and_non_utf8(tmp_path):
    path = write_lines(tmp_path, [json.dumps(GOOD), json.dumps(GOOD)])
    with pytest.raises(InputError, match=r":2: field 'id': duplicate id 'a' \(first on line 1\)"):
        read_instances(path)
    raw = tmp_path / "latin1.jsonl"
    raw.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"id": "é"}'.encode("latin-1") + b"\n")
    with pytest.raises(InputError, match=r"latin1.jsonl:2: not UTF-8"):
        read_instances(raw)


def test_bom_and_blank_lines_are_fine(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n\n  \n")
    assert [i.id for i in read_instances(path)] == ["a"]


def test_empty_file(tmp_path):
    path = write_lines(tmp_path, [""])
    with pytest.raises(InputError, match="no sentences in the file"):
        read_instances(path)


@pytest.mark.parametrize("label", ["none", "None", "NONE"])
def test_a_relation_named_like_the_none_answer_is_refused_with_its_line(tmp_path, label):
    relations = [
        {"relation": "founded_by", "description": "The head was founded by the tail."},
        {"relation": label, "description": "Nothing."},
        {"relation": "Other", "description": "No relation.", "no_relation": True},
    ]
    path = write_schema(tmp_path, relations)
    with pytest.raises(InputError) as info:
        RelationSchema.from_file(path)
    assert str(info.value).startswith(
        f"{path}:6: field 'label': the label {label!r} is reserved: the prompts offer 'none' as the answer"
    )
    relations[1]["no_relation"], relations[2]["no_relation"] = True, False  # as the no-relation label
    assert RelationSchema.from_file(write_schema(tmp_path, relations)).no_relation_label == label


@pytest.mark.parametrize("document", [[], {"relations": [], "no_relation": "Other"}])
def test_an_empty_relation_list_says_so(tmp_path, document):
    path = tmp_path / "relations.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as info:
        RelationSchema.from_file(path)
    assert str(info.value) == f"{path}: field 'relations': the list of relation types is empty"


def test_extra_fields_are_kept_and_mbres_own_output_fields_dropped(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({**GOOD, "doc_id": 7, "gold": "x", "provenance": {}}) + "\n")
    (instance,) = read_instances(path)
    assert instance.extra == {"doc_id": 7}


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["   "], ":1: field 'id': the id is blank: give each sentence a visible id"),
        (["x", " x"], ":2: field 'id': duplicate id ' x' (first on line 1, 'x': they differ only by spaces)"),
        (
            ["x ", "b", "x"],
            ":3: field 'id': duplicate id 'x' (first on line 1, 'x ': they differ only by spaces)",
        ),
    ],
)
def test_blank_ids_and_ids_that_differ_only_by_spaces_are_refused_with_their_line(tmp_path, ids, message):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(GOOD | {"id": id}) + "\n" for id in ids))
    with pytest.raises(InputError) as info:
        read_instances(path)
    assert str(info.value) == f"{path}{message}"
