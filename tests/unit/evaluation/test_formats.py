"""Benchmark-format readers: exact instances from small files; bad input named by file, line and field."""

from __future__ import annotations

import json

import pytest

from mbre.errors import InputError
from mbre.evaluation.formats import load_instances, read_semeval, read_tacred
from mbre.schemas.instances import Instance, Span, read_instances
from tests.support.data import SEMEVAL

CHILD = '1\t"The <e1>child</e1> was wrapped into the <e2>cradle</e2>."'
SMOKE = '2\t"<e2>Smoke</e2> comes from <e1>fire</e1>."'
SEMEVAL_FILE = (
    f"{CHILD}\r\nOther\r\nComment:\r\n\r\n{SMOKE}\r\nCause-Effect(e1,e2)\r\nComment: e2 first\r\n\r\n"
)
SEMEVAL_INSTANCES = [
    Instance(
        id="1",
        text="The child was wrapped into the cradle.",
        head=Span(name="child", start=4, end=9),
        tail=Span(name="cradle", start=31, end=37),
        relation="Other",
    ),
    Instance(
        id="2",
        text="Smoke comes from fire.",
        head=Span(name="fire", start=17, end=21),
        tail=Span(name="Smoke", start=0, end=5),
        relation="Cause-Effect(e1,e2)",
    ),
]

GATES = {
    "id": "a",
    "token": ["Bill", "Gates", "founded", "Microsoft", "."],
    "subj_start": 0,
    "subj_end": 1,
    "obj_start": 3,
    "obj_end": 3,
    "relation": "org:founded_by",
    "stanford_pos": ["NNP", "NNP", "VBD", "NNP", "."],
}
ACME = {
    "id": "b",
    "token": ["He", "works", "at", "Acme", "Corp"],
    "subj_start": 3,
    "subj_end": 4,
    "obj_start": 0,
    "obj_end": 0,
    "relation": "no_relation",
}
TACRED_INSTANCES = [
    Instance(
        id="a",
        text="Bill Gates founded Microsoft .",
        head=Span(name="Bill Gates", start=0, end=10),
        tail=Span(name="Microsoft", start=19, end=28),
        relation="org:founded_by",
    ),
    Instance(
        id="b",
        text="He works at Acme Corp",
        head=Span(name="Acme Corp", start=12, end=21),
        tail=Span(name="He", start=0, end=2),
        relation="no_relation",
    ),
]


def write(tmp_path, text: str, name: str = "data.txt") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


def write_tacred(tmp_path, records: list[object]) -> str:
    """One record per line, so record i (from 0) starts on line i + 2."""
    return write(tmp_path, "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n", "data.json")


def test_semeval_records_with_crlf_and_either_mention_first(tmp_path):
    assert read_semeval(write(tmp_path, SEMEVAL_FILE)) == SEMEVAL_INSTANCES


def test_semeval_without_comment_lines_trailing_blank_line_or_crlf(tmp_path):
    path = write(tmp_path, f"\ufeff{CHILD}\nOther\n\n\n{SMOKE}\nCause-Effect(e1,e2)")
    assert read_semeval(path) == SEMEVAL_INSTANCES


@pytest.mark.parametrize(
    ("sentence", "message"),
    [
        (
            '2\t"<e2>Smoke</e2> comes from <e1>fire</e1>.',
            'expected a sentence line <id><TAB>"<sentence>", found ',
        ),
        (
            '2 "<e2>Smoke</e2> comes from <e1>fire</e1>."',
            'expected a sentence line <id><TAB>"<sentence>", found ',
        ),
        ('2\t"<e2>Smoke comes from <e1>fire</e1>."', "missing the </e2> marker"),
        ('2\t"Smoke comes from <e1>fire</e1>."', "missing the <e2> marker"),
        ('2\t"<e2>Smoke</e2> comes <e1>from</e1> <e1>fire</e1>."', "the <e1> marker appears 2 times"),
        (
            '2\t"<e1>Smoke <e2>comes</e2> from fire</e1>."',
            "the entity markers must enclose two separate mentions, found <e1> <e2> </e2> </e1>",
        ),
        (
            '2\t"</e2>Smoke<e2> comes from <e1>fire</e1>."',
            "the entity markers must enclose two separate mentions, found </e2> <e2> <e1> </e1>",
        ),
        ('2\t"<e2></e2>Smoke comes from <e1>fire</e1>."', "the <e2> mention is empty"),
    ],
)
def test_semeval_bad_sentence_line_names_file_and_line(tmp_path, sentence, message):
    path = write(tmp_path, f"{CHILD}\r\nOther\r\nComment:\r\n\r\n{sentence}\r\nOther\r\nComment:\r\n\r\n")
    with pytest.raises(InputError) as info:
        read_semeval(path)
    expected = f"{path}:5: {message}"
    if message.endswith("found "):
        expected += repr(sentence)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("text", "line", "found"),
    [
        (f"{CHILD}\r\nComment:\r\n\r\n", 2, "'Comment:'"),  # label line missing, comment present
        (f"{CHILD}\r\n\r\n{SMOKE}\r\nOther\r\n", 2, "''"),  # label and comment missing
        (f"{CHILD}\r\n{SMOKE}\r\nOther\r\n", 2, repr(SMOKE)),  # next record straight after the sentence
        (f"{CHILD}\r\nCause Effect\r\n", 2, "'Cause Effect'"),  # not one word
        (f"{CHILD}\r\n", 2, "''"),  # the file ends after the sentence
    ],
)
def test_semeval_bad_label_line_names_file_and_line(tmp_path, text, line, found):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_semeval(path)
    assert (
        str(info.value)
        == f"{path}:{line}: expected the relation label after the sentence on line 1, found {found}"
    )


def test_semeval_duplicate_ids_empty_file_and_bad_bytes(tmp_path):
    path = write(tmp_path, f"{CHILD}\r\nOther\r\n\r\n{CHILD}\r\nOther\r\n")
    with pytest.raises(InputError) as info:
        read_semeval(path)
    assert str(info.value) == f"{path}:4: field 'id': duplicate id '1' (first on line 1)"

    path = write(tmp_path, "\r\n\r\n")
    with pytest.raises(InputError) as info:
        read_semeval(path)
    assert str(info.value) == f"{path}: no sentences in the file"

    raw = tmp_path / "latin1.txt"
    raw.write_bytes(
        f"{CHILD}\r\nOther\r\n\r\n".encode() + '3\t"caf\xe9 <e1>a</e1> <e2>b</e2>"'.encode("latin-1")
    )
    with pytest.raises(InputError) as info:
        read_semeval(raw)
    # line 4 is `3`, TAB, `"`, `caf`, then 0xe9 at offset 6 (counted from 0, as Python reports it)
    assert str(info.value) == f"{raw}:4: not UTF-8: invalid continuation byte at byte 6"


@pytest.mark.parametrize(
    ("raw_name", "jsonl_name", "split", "count"),
    [
        ("TRAIN_FILE.TXT", "train.jsonl", "train", 8000),
        ("TEST_FILE_FULL.TXT", "test.jsonl", "test", 2717),
    ],
)
def test_semeval_original_files_equal_the_converted_jsonl(raw_name, jsonl_name, split, count):
    """Same text, spans and label for every record; only the id differs: `7` here, `semeval:train:7` there."""
    raw, converted = SEMEVAL / "raw" / raw_name, SEMEVAL / jsonl_name
    loaded = load_instances(raw)
    expected = read_instances(converted)
    assert len(loaded) == len(expected) == count
    for got, want in zip(loaded, expected, strict=True):
        assert got.model_copy(update={"id": f"semeval:{split}:{got.id}"}) == want


def test_tacred_records_become_instances(tmp_path):
    assert read_tacred(write_tacred(tmp_path, [GATES, ACME])) == TACRED_INSTANCES


def test_tacred_error_names_the_line_where_a_pretty_printed_record_starts(tmp_path):
    bad = {**ACME, "obj_end": 5}
    path = write(tmp_path, json.dumps([GATES, bad], indent=2), "data.json")
    # indent=2: "[" on line 1; GATES on lines 2-23: "{", id, "token": [, 5 tokens, "],", the 4 indices,
    # relation, "stanford_pos": [, 5 tags, "]", "},"; so the bad record starts on line 24
    with pytest.raises(InputError) as info:
        read_tacred(path)
    assert (
        str(info.value)
        == f"{path}:24: field 'obj_end': 5 is out of range (the record has 5 tokens, indices 0..4)"
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"subj_end": 5}, "subj_end", "5 is out of range (the record has 5 tokens, indices 0..4)"),
        ({"obj_start": 4, "obj_end": 3}, "obj_start", "4 is after obj_end 3"),
        ({"subj_start": -1}, "subj_start", "Input should be greater than or equal to 0"),
        ({"subj_start": "0"}, "subj_start", "Input should be a valid integer"),
        ({"id": 7}, "id", "Input should be a valid string"),
        ({"token": ["Bill", 5]}, "token.1", "Input should be a valid string"),
        ({"token": []}, "token", "List should have at least 1 item after validation, not 0"),
        ({"relation": None}, "relation", "Input should be a valid string"),
        ({"obj_start": 1, "obj_end": 2}, "tail", "the head and tail spans overlap"),
    ],
)
def test_tacred_bad_record_names_file_line_and_field(tmp_path, changes, field, message):
    path = write_tacred(tmp_path, [ACME, {**GATES, **changes}])
    with pytest.raises(InputError) as info:
        read_tacred(path)
    assert str(info.value) == f"{path}:3: field '{field}': {message}"


def test_tacred_missing_field(tmp_path):
    path = write_tacred(tmp_path, [{k: v for k, v in GATES.items() if k != "relation"}])
    with pytest.raises(InputError) as info:
        read_tacred(path)
    assert str(info.value) == f"{path}:2: field 'relation': Field required"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('\n{"id": "a"}\n', "2: expected a JSON array of TACRED records"),
        ("[\n1\n]", "2: a TACRED record must be a JSON object"),
        (
            '[\n{"id": "a",\n]',
            "3: not valid JSON: Expecting property name enclosed in double quotes (column 1)",
        ),
        ("[]", " no sentences in the file"),
    ],
)
def test_tacred_bad_document(tmp_path, text, message):
    path = write(tmp_path, text, "data.json")
    with pytest.raises(InputError) as info:
        read_tacred(path)
    assert str(info.value) == f"{path}:{message}"


def test_tacred_duplicate_ids(tmp_path):
    path = write_tacred(tmp_path, [GATES, ACME, GATES])
    with pytest.raises(InputError) as info:
        read_tacred(path)
    assert str(info.value) == f"{path}:4: field 'id': duplicate id 'a' (first on line 2)"


def test_load_instances_detects_each_format(tmp_path):
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text("\n" + "\n".join(i.model_dump_json() for i in TACRED_INSTANCES) + "\n")
    assert load_instances(jsonl) == TACRED_INSTANCES
    assert load_instances(write(tmp_path, "\r\n" + SEMEVAL_FILE)) == SEMEVAL_INSTANCES
    assert (
        load_instances(write(tmp_path, "\ufeff  " + json.dumps([GATES, ACME]), "t.json")) == TACRED_INSTANCES
    )


def test_load_instances_with_a_named_format(tmp_path):
    path = write(tmp_path, SEMEVAL_FILE)
    assert load_instances(path, "semeval") == SEMEVAL_INSTANCES
    with pytest.raises(InputError, match=rf"^{path}:1: not valid JSON"):
        load_instances(path, "tacred")
    with pytest.raises(InputError) as info:
        load_instances(path, "csv")  # type: ignore[arg-type]
    assert str(info.value) == f"{path}: unknown format 'csv': use auto, jsonl, semeval or tacred"


def test_load_instances_refuses_an_undecidable_or_missing_file(tmp_path):
    path = write(tmp_path, "\n\nid,text,head\n")
    with pytest.raises(InputError) as info:
        load_instances(path)
    assert str(info.value) == (
        f"{path}:3: cannot tell the format: expected '[' (TACRED JSON), '<id><TAB>\"' (SemEval) or '{{' "
        "(JSON Lines) at the start; name the format explicitly"
    )
    path = write(tmp_path, " \n\n", "blank.txt")
    with pytest.raises(InputError) as info:
        load_instances(path)
    assert str(info.value) == f"{path}: no sentences in the file"
    missing = tmp_path / "missing.txt"
    with pytest.raises(InputError) as info:
        load_instances(missing)
    assert str(info.value) == f"{missing}: cannot read the file: No such file or directory"
