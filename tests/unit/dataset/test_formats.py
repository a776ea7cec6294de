"""Each export format read back by what it is for: `datasets.load_from_disk` and pyarrow for `hf`, a reader
that follows OpenNRE's sentence loader for `opennre`, mbre's TACRED reader for `tacred`, and mbre's own
input reader for `jsonl`; each keeps the input's extra fields, the confidence, its source and `reviewed`."""

from __future__ import annotations

import ast
import json
import re

import pyarrow.parquet as pq
from datasets import ClassLabel, load_from_disk

from mbre.dataset.formats import tokenize, write_hf, write_jsonl, write_opennre, write_tacred
from mbre.dataset.labelled import Labelled
from mbre.evaluation.formats import read_tacred
from mbre.schemas.instances import Span, read_instances
from mbre.schemas.results import Sample
from tests.support.samples import SAMPLES

LABELS = ["founded_by", "ceo_of", "born_in", "employee_of", "no_relation"]
#: The samples with an input field of their own on every other one, and where their confidence came from.
KEPT = [
    Sample.model_validate(
        sample.model_dump()
        | ({"doc_id": f"doc-{i}", "page": i} if i % 2 == 0 else {})
        | {"confidence_source": "logprobs" if sample.confidence is not None else None}
    )
    for i, sample in enumerate(SAMPLES)
]
RECORDS = [
    Labelled(sample, sample.relation or "employee_of", reviewed=sample.relation is None) for sample in KEPT
]
TRAIN = {"train": RECORDS}


def expected_fields(record: Labelled) -> dict[str, object]:
    """What every format keeps beside the sentence: the input's fields, then mbre's three."""
    return {
        **record.sample.extra,
        "confidence": record.sample.confidence,
        "confidence_source": record.sample.confidence_source,
        "reviewed": record.reviewed,
    }


def opennre_items(path, rel2id_path):
    """OpenNRE's SentenceREDataset: each non-blank line is a Python literal (it calls `eval`), its label an
    index into rel2id, and its BERT encoders cut the entities out of `text` by `pos`."""
    rel2id = json.loads(rel2id_path.read_text())
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.rstrip():
            item = ast.literal_eval(line.rstrip())
            items.append((item, rel2id[item["relation"]]))
    return items, rel2id


def test_jsonl_is_mbre_input(tmp_path):
    (path,) = write_jsonl(TRAIN, LABELS, tmp_path)
    read = read_instances(path)
    assert [(i.id, i.text, i.head, i.tail, i.relation) for i in read] == [
        (r.sample.id, r.sample.text, r.sample.head, r.sample.tail, r.relation) for r in RECORDS
    ]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line, record in zip(lines, RECORDS, strict=True):
        assert {key: line.get(key) for key in expected_fields(record)} == expected_fields(record)
    assert lines[0]["doc_id"] == "doc-0" and "doc_id" not in lines[1]
    assert read[0].extra == {"doc_id": "doc-0", "page": 0, "reviewed": False}  # what discover carries on


def test_opennre_follows_its_loader(tmp_path):
    data, rel2id_file = write_opennre(TRAIN, LABELS, tmp_path)
    items, rel2id = opennre_items(data, rel2id_file)
    for (item, _), record in zip(items, RECORDS, strict=True):
        fields = {key: value for key, value in expected_fields(record).items() if value is not None}
        assert {key: item[key] for key in fields} == fields | {"reviewed": int(record.reviewed)}
        assert "confidence" in item or record.sample.confidence is None
    assert rel2id == {label: i for i, label in enumerate(LABELS)}
    assert [label for _, label in items] == [LABELS.index(r.relation) for r in RECORDS]
    for (item, _), record in zip(items, RECORDS, strict=True):
        for key, span in (("h", record.sample.head), ("t", record.sample.tail)):
            start, end = item[key]["pos"]
            assert item["text"][start:end] == item[key]["name"] == span.name


def test_tacred_reads_back_with_inclusive_token_spans(tmp_path):
    (path,) = write_tacred(TRAIN, LABELS, tmp_path)
    read = read_tacred(path)  # mbre's TACRED reader, as `evaluate --format tacred` uses it
    assert [i.id for i in read] == [r.sample.id for r in RECORDS]
    assert [i.relation for i in read] == [r.relation for r in RECORDS]
    words = re.compile(r"\w+|[^\w\s]")
    for instance, record in zip(read, RECORDS, strict=True):
        assert instance.head.name == " ".join(words.findall(record.sample.head.name))
        assert instance.tail.name == " ".join(words.findall(record.sample.tail.name))
    rows = json.loads(path.read_text())
    assert {"token", "subj_start", "subj_end", "obj_start", "obj_end", "relation"} <= rows[0].keys()
    for row, record in zip(rows, RECORDS, strict=True):
        assert {key: row.get(key) for key in expected_fields(record)} == expected_fields(record)


def test_tokenize_splits_at_entity_boundaries():
    sample = SAMPLES[0]  # "Microsoft was founded by Bill Gates in 1975."
    tokens, head, tail = tokenize(sample.text, sample.head, sample.tail)
    assert tokens == ["Microsoft", "was", "founded", "by", "Bill", "Gates", "in", "1975", "."]
    assert (head, tail) == ((0, 0), (4, 5))
    head, tail = Span(name="Microsoft", start=3, end=12), Span(name="ex", start=0, end=2)
    assert tokenize("ex-Microsoft", head, tail) == (["ex", "-", "Microsoft"], (2, 2), (0, 0))


def test_hf_is_a_dataset_with_a_class_label_and_parquet(tmp_path):
    directory, parquet = write_hf(TRAIN, LABELS, tmp_path)
    dataset = load_from_disk(str(directory))["train"]
    feature = dataset.features["relation"]
    assert isinstance(feature, ClassLabel) and feature.names == LABELS
    assert [feature.int2str(i) for i in dataset["relation"]] == [r.relation for r in RECORDS]
    assert dataset[0]["head"] == {"name": "Microsoft", "start": 0, "end": 9}
    table = pq.read_table(parquet)
    assert table.column("id").to_pylist() == [r.sample.id for r in RECORDS]
    for column in ("doc_id", "page", "confidence", "confidence_source", "reviewed"):
        assert dataset[column] == [expected_fields(r).get(column) for r in RECORDS], column
    assert table.column("doc_id").to_pylist() == dataset["doc_id"]


def test_every_split_gets_its_file(tmp_path):
    splits = {"train": RECORDS[:4], "dev": RECORDS[4:6], "test": RECORDS[6:]}
    for writer, suffix in ((write_jsonl, ".jsonl"), (write_opennre, ".txt"), (write_tacred, ".json")):
        files = writer(splits, LABELS, tmp_path)
        assert [path.name for path in files if path.suffix == suffix] == [
            f"{name}{suffix}" for name in splits
        ]
    directory, *parquets = write_hf(splits, LABELS, tmp_path)
    saved = load_from_disk(str(directory))
    assert {name: len(saved[name]) for name in splits} == {"train": 4, "dev": 2, "test": 1}
    assert [path.name for path in parquets] == ["train.parquet", "dev.parquet", "test.parquet"]


def test_hf_types_the_extra_fields_alike_in_every_split(tmp_path):
    splits = {"train": RECORDS[1:2], "test": RECORDS[:1]}  # doc_id only in test's record
    directory, *_ = write_hf(splits, LABELS, tmp_path)
    saved = load_from_disk(str(directory))
    assert saved["train"].features == saved["test"].features
    assert (saved["train"]["doc_id"], saved["test"]["doc_id"]) == ([None], ["doc-0"])


def test_entity_types_reach_tacred_hf_and_jsonl_when_known(tmp_path):
    def typed(span: Span, kind: str) -> Span:
        return span.model_copy(update={"type": kind})

    first = RECORDS[0].sample
    sample = first.model_copy(update={"head": typed(first.head, "org"), "tail": typed(first.tail, "person")})
    records = [Labelled(sample, RECORDS[0].relation, reviewed=False), *RECORDS[1:]]
    (tacred,) = write_tacred({"train": records}, LABELS, tmp_path)
    rows = json.loads(tacred.read_text())
    assert (rows[0]["subj_type"], rows[0]["obj_type"]) == ("org", "person")
    assert "subj_type" not in rows[1]  # types unknown: not made up
    directory, _ = write_hf({"train": records}, LABELS, tmp_path)
    dataset = load_from_disk(str(directory))["train"]
    assert dataset[0]["head"]["type"] == "org" and dataset[1]["head"]["type"] is None
    (jsonl,) = write_jsonl({"train": records}, LABELS, tmp_path)
    assert read_instances(jsonl)[0].tail.type == "person"
