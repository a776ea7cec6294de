"""Run directories: resume without asking again, refuse a changed run, keep failures and bad lines apart."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from mbre import MbreContext
from mbre.errors import InputError, SettingError, StorageError
from mbre.inventory.inventory import ALL_LABELS, Inventory
from mbre.llm.tokens import chat_turns
from mbre.prompts.render import extraction_messages
from mbre.run.budget import Budget, parse_budget
from mbre.run.discover import discover, too_long
from mbre.run.rundir import RunDir, RunMismatchError
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Sample
from tests.support.data import EXAMPLES
from tests.support.fake_llama_server import chat_template, serving
from tests.support.fakes import Reply, ScriptedChatModel, content_free, gold_reply, instance_in, text_of

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
INVENTORY = Inventory.build(SCHEMA)
SENTENCES = read_instances(EXAMPLES / "sentences.jsonl")


def gold_model(fail_on: set[str] = frozenset()) -> ScriptedChatModel:
    """A perfect labeller that raises (like an endpoint that keeps failing) for the ids in `fail_on`."""

    def respond(messages) -> Reply:
        if not content_free(messages) and instance_in(text_of(messages), SENTENCES).id in fail_on:
            raise ConnectionError(f"endpoint down for {instance_in(text_of(messages), SENTENCES).id}")
        return gold_reply(messages, SCHEMA, SENTENCES)

    return ScriptedChatModel(responder=respond)


def ids_in(run_dir: Path) -> list[str]:
    return [sample.id for sample in RunDir(run_dir).samples()]


def test_a_budget_stop_then_a_resume_labels_each_sentence_once_without_asking_again(tmp_path):
    model = gold_model()
    ctx = MbreContext(chat_model=model)
    first = discover(INVENTORY, SENTENCES, ctx, tmp_path, concurrency=1, budget=Budget(tokens=3000))
    assert first.stopped == "budget"
    done = ids_in(tmp_path)
    assert 0 < len(done) < len(SENTENCES) and first.sentences == len(done)
    asked_before = len(model.calls)

    events: list[dict] = []
    second = discover(INVENTORY, SENTENCES, ctx, tmp_path, concurrency=3, on_event=events.append)
    assert events[0] == {"event": "resumed", "sentences": len(done)}
    assert second.resumed == len(done) and second.sentences == len(SENTENCES) - len(done)
    assert sorted(ids_in(tmp_path)) == sorted(s.id for s in SENTENCES)  # each exactly once
    # The resumed run asked only about the sentences not finished before.
    resumed_prompts = [text_of(m) for m in model.calls[asked_before:] if not content_free(m)]
    assert not any(instance_in(p, SENTENCES).id in done for p in resumed_prompts)
    assert all(s.relation == s.gold for s in RunDir(tmp_path).samples())
    # Each invocation left its wall time and its sentences, so the whole run stays timed.
    timings = RunDir(tmp_path).timings()
    assert [t.sentences for t in timings] == [first.sentences, second.sentences]
    assert [t.seconds for t in timings] == [first.seconds, second.seconds]
    assert [t.calls for t in timings] == [first.usage.calls, second.usage.calls]
    assert discover(INVENTORY, SENTENCES, ctx, tmp_path).sentences == 0
    assert len(RunDir(tmp_path).timings()) == 2  # an invocation that decided nothing records nothing


def test_a_failed_sentence_is_recorded_skipped_on_resume_and_taken_again_on_request(tmp_path):
    down = {SENTENCES[3].id}
    summary = discover(INVENTORY, SENTENCES, MbreContext(chat_model=gold_model(down)), tmp_path)
    assert set(summary.failed) == down and "endpoint down for" in summary.failed[SENTENCES[3].id]
    assert set(RunDir(tmp_path).failures()) == down
    assert len(ids_in(tmp_path)) == len(SENTENCES) - 1

    healthy = gold_model()
    again = discover(INVENTORY, SENTENCES, MbreContext(chat_model=healthy), tmp_path)
    assert again.sentences == 0 and not healthy.calls  # a plain resume leaves failures alone

    retried = discover(INVENTORY, SENTENCES, MbreContext(chat_model=healthy), tmp_path, retry_failed=True)
    assert retried.sentences == 1 and not retried.failed
    assert sorted(ids_in(tmp_path)) == sorted(s.id for s in SENTENCES)
    assert RunDir(tmp_path).failures() == {}  # the failure is settled by the sample


def test_a_run_made_before_a_setting_existed_resumes_under_its_earlier_behaviour_only(tmp_path):
    """Upgrading mbre adds settings; a run whose manifest lacks one behaved as the setting's `before`
    value (group_weight: 1), which need not be today's default."""
    before = MbreContext(chat_model=gold_model(), group_weight=1.0)
    discover(INVENTORY, SENTENCES[:3], before, tmp_path)
    manifest_file = tmp_path / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    assert manifest["settings"].pop("group_weight") == 1.0
    manifest_file.write_text(json.dumps(manifest))

    assert MbreContext().group_weight != 1.0
    with pytest.raises(RunMismatchError, match=r"setting group_weight: 1\.0 -> 0\.25"):
        discover(INVENTORY, SENTENCES[:3], MbreContext(chat_model=gold_model()), tmp_path)
    model = gold_model()
    summary = discover(INVENTORY, SENTENCES[:3], MbreContext(chat_model=model, group_weight=1.0), tmp_path)
    assert summary.sentences == 0 and not model.calls  # resumed: everything was finished
    assert sorted(ids_in(tmp_path)) == sorted(s.id for s in SENTENCES[:3])


def test_a_setting_that_does_not_bear_on_a_runs_labels_neither_is_recorded_nor_stops_a_resume(tmp_path):
    """A binary run's labels do not depend on M-BRe's group weight or on the paper rule's epsilon: it
    resumes when they change (a new mbre default must not strand a long baseline run); its threshold
    counts."""
    discover(INVENTORY, SENTENCES[:3], MbreContext(chat_model=gold_model(), strategy="binary"), tmp_path)
    settings = json.loads((tmp_path / "manifest.json").read_text())["settings"]
    assert {"group_weight", "candidate_share", "epsilon", "route_top_k"}.isdisjoint(settings)
    assert settings["threshold"] == 0.75 and settings["strategy"] == "binary"

    model = gold_model()
    changed = MbreContext(
        chat_model=model, strategy="binary", group_weight=2.0, candidate_share=0.0, epsilon=0.3, route_top_k=1
    )
    summary = discover(INVENTORY, SENTENCES[:3], changed, tmp_path)
    assert summary.sentences == 0 and not model.calls
    with pytest.raises(RunMismatchError, match=r"setting threshold: 0\.75 -> 0\.5"):
        discover(
            INVENTORY,
            SENTENCES[:3],
            MbreContext(chat_model=model, strategy="binary", threshold=0.5),
            tmp_path,
        )


def test_the_sampling_settings_bear_only_on_a_run_that_may_sample(tmp_path):
    """A run on token probabilities never samples: a new default K must not strand it."""
    discover(INVENTORY, SENTENCES[:3], MbreContext(chat_model=gold_model(), confidence="logprobs"), tmp_path)
    settings = json.loads((tmp_path / "manifest.json").read_text())["settings"]
    assert {"confidence_samples", "confidence_temperature"}.isdisjoint(settings)

    model = gold_model()
    again = MbreContext(
        chat_model=model, confidence="logprobs", confidence_samples=7, confidence_temperature=0.5
    )
    assert discover(INVENTORY, SENTENCES[:3], again, tmp_path).sentences == 0 and not model.calls

    sampled = tmp_path / "sampled"
    discover(INVENTORY, SENTENCES[:1], MbreContext(chat_model=gold_model(), confidence="sampled"), sampled)
    with pytest.raises(RunMismatchError, match=r"setting confidence_samples: 3 -> 5"):
        discover(
            INVENTORY,
            SENTENCES[:1],
            MbreContext(chat_model=gold_model(), confidence="sampled", confidence_samples=5),
            sampled,
        )


def test_a_changed_model_or_strategy_is_refused_unless_fresh_which_keeps_the_old_results(tmp_path):
    discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)
    with pytest.raises(RunMismatchError) as info:
        discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model(), strategy="binary"), tmp_path)
    message = str(info.value)
    assert "setting strategy: 'mbre' -> 'binary'" in message and "--fresh" in message
    with pytest.raises(RunMismatchError, match="input_sha256"):
        discover(INVENTORY, SENTENCES[:3], MbreContext(chat_model=gold_model()), tmp_path)

    summary = discover(
        INVENTORY,
        SENTENCES[:2],
        MbreContext(chat_model=gold_model(), strategy="binary"),
        tmp_path,
        fresh=True,
    )
    assert summary.sentences == 2
    (attic,) = tmp_path.glob("previous-*")
    assert len((attic / "samples.jsonl").read_text().splitlines()) == 2  # moved aside, not deleted
    assert {s.provenance.strategy for s in RunDir(tmp_path).samples()} == {"binary"}


def test_a_torn_last_line_is_cut_and_that_sentence_asked_again(tmp_path):
    discover(INVENTORY, SENTENCES[:4], MbreContext(chat_model=gold_model()), tmp_path)
    samples_file = tmp_path / "samples.jsonl"
    lines = samples_file.read_text().splitlines(keepends=True)
    torn_id = json.loads(lines[-1])["id"]
    samples_file.write_text("".join(lines[:-1]) + lines[-1][:40])  # a kill in the middle of a write

    model = gold_model()
    summary = discover(INVENTORY, SENTENCES[:4], MbreContext(chat_model=model), tmp_path)
    assert summary.resumed == 3 and summary.sentences == 1
    assert {instance_in(text_of(m), SENTENCES).id for m in model.calls if not content_free(m)} == {torn_id}
    assert sorted(ids_in(tmp_path)) == sorted(s.id for s in SENTENCES[:4])


def test_a_damaged_results_line_is_an_error_that_names_it(tmp_path):
    discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)
    samples_file = tmp_path / "samples.jsonl"
    samples_file.write_text('{"id": "x"}\n' + samples_file.read_text())
    with pytest.raises(InputError) as info:
        RunDir(tmp_path).samples()
    assert str(info.value) == f"{samples_file}:1: field 'text': Field required"


def test_bad_lines_are_quarantined_with_line_and_reason_and_the_rest_labelled(tmp_path):
    good = (EXAMPLES / "sentences.jsonl").read_bytes().splitlines()
    corpus = tmp_path / "in.jsonl"
    corpus.write_bytes(
        b"\xef\xbb\xbf"
        + good[0]
        + b"\n\n{not json\n"
        + good[1].replace(b'"start": ', b'"start": 1', 1)
        + b"\n"
        + good[2]
        + b"\n\xff\xfe\n"
        + good[2]
        + b"\n"
    )
    bad: list[InputError] = []
    instances = read_instances(corpus, bad.append)
    assert [i.id for i in instances] == [SENTENCES[0].id, SENTENCES[2].id]
    messages = [str(e) for e in bad]
    assert (
        messages[0]
        == f"{corpus}:3: not valid JSON: Expecting property name enclosed in double quotes (column 2)"
    )
    assert messages[1].startswith(f"{corpus}:4: field 'head': span ")
    assert messages[2] == f"{corpus}:6: not UTF-8: invalid start byte at byte 0"
    assert messages[3] == f"{corpus}:7: field 'id': duplicate id '{SENTENCES[2].id}' (first on line 5)"
    assert len(messages) == 4

    run = tmp_path / "run"
    summary = discover(INVENTORY, instances, MbreContext(chat_model=gold_model()), run, quarantined=bad)
    assert summary.quarantined == 4 and summary.sentences == 2
    records = [json.loads(line) for line in (run / "quarantine.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in records] == [(3, None), (4, "head"), (6, None), (7, "id")]
    assert records[3]["reason"].startswith("duplicate id")


def test_a_sentence_over_the_models_context_is_refused_with_the_reason(tmp_path, make_instance):
    long_text = "Acme was founded by Jane Roe " + "and many more words " * 400 + "."
    long = make_instance(long_text, "Acme", "Jane Roe", id="long")
    model = gold_model()
    summary = discover(
        INVENTORY, [*SENTENCES[:1], long], MbreContext(chat_model=model, context_tokens=2048), tmp_path
    )
    assert summary.refused == 1 and summary.sentences == 1
    (record,) = [json.loads(line) for line in (tmp_path / "quarantine.jsonl").read_text().splitlines()]
    assert record["file"] == "long" and record["field"] == "text"
    assert re.fullmatch(
        r"sentence too long for the model: its prompts take about \d+ tokens, plus max_tokens 160, "
        r"over the context of 2048 tokens",
        record["reason"],
    )
    assert not any("many more words" in text_of(m) for m in model.calls)


def test_the_too_long_check_counts_with_the_model_s_tokenizer(make_instance):
    long_text = "Acme was founded by Jane Roe " + "and many more words " * 500 + "."
    long = make_instance(long_text, "Acme", "Jane Roe", id="long")
    with serving() as url:
        ctx = MbreContext(model="openai:q", base_url=f"{url}/v1", context_tokens=2048)
        assert too_long(INVENTORY, SENTENCES[0], ctx) is None
        reason = too_long(INVENTORY, long, ctx)
        prompt = extraction_messages(SCHEMA, INVENTORY.asked_labels(ALL_LABELS), long)
        turns = [{"role": role, "content": content} for role, content in chat_turns(prompt)]
    exact = 1 + len(chat_template(turns).split())  # the stand-in's count: BOS and a token per word
    assert reason == (
        f"sentence too long for the model: its prompts take {exact} tokens, plus max_tokens 160, "
        "over the context of 2048 tokens"
    )


@pytest.mark.parametrize(
    ("text", "tokens", "dollars"),
    [("200000", 200_000, None), ("200k", 200_000, None), ("1.5m", 1_500_000, None), ("5usd", None, 5.0)],
)
def test_budgets_parse_as_tokens_or_money(text, tokens, dollars):
    ctx = MbreContext(price_prompt_per_million=0.15, price_completion_per_million=0.6)
    assert parse_budget(text, ctx) == Budget(tokens=tokens, dollars=dollars)


def test_a_money_budget_needs_a_price_table():
    with pytest.raises(SettingError, match="needs prices: set price_prompt_per_million"):
        parse_budget("$5", MbreContext())
    with pytest.raises(SettingError, match="neither tokens"):
        parse_budget("five", MbreContext())


def test_samples_in_a_run_directory_validate_as_samples(tmp_path):
    discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)
    for line in (tmp_path / "samples.jsonl").read_text().splitlines():
        Sample.model_validate_json(line)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["settings"]["strategy"] == "mbre" and len(manifest["input_sha256"]) == 64


def test_fresh_moves_a_damaged_manifest_aside_and_a_plain_resume_says_to(tmp_path):
    discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"")  # a full disk, under an older mbre
    with pytest.raises(InputError) as info:
        discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'manifest.json'}: not an mbre manifest (")
    assert str(info.value).endswith("pass --fresh to move it and the results beside it aside and start over")

    summary = discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path, fresh=True)
    assert summary.sentences == 2
    (attic,) = tmp_path.glob("previous-*")
    assert (attic / "manifest.json").read_bytes() == b""
    assert len((attic / "samples.jsonl").read_text().splitlines()) == 2


def test_two_fresh_starts_within_a_second_keep_both_earlier_results(tmp_path):
    for _ in range(3):
        discover(INVENTORY, SENTENCES[:1], MbreContext(chat_model=gold_model()), tmp_path, fresh=True)
    attics = sorted(tmp_path.glob("previous-*"))
    assert len(attics) == 2 and all((attic / "samples.jsonl").exists() for attic in attics)


def test_results_without_a_manifest_are_not_resumed_blindly(tmp_path):
    discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(RunMismatchError, match=r"holds results but no manifest\.json"):
        discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=gold_model()), tmp_path)


def test_the_manifest_is_replaced_whole(tmp_path, monkeypatch):
    replaced: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(str(b)), real_replace(a, b))[1])
    discover(INVENTORY, SENTENCES[:1], MbreContext(chat_model=gold_model()), tmp_path)
    kept = [str(tmp_path / name) for name in ("relations.json", "inputs.json")]  # the schema kept beside it
    assert replaced == [str(tmp_path / "manifest.json"), *kept]


def test_a_run_directory_that_cannot_be_written_fails_before_any_call(tmp_path, monkeypatch):
    model = gold_model()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(StorageError, match=f"cannot write {tmp_path}: Read-only file system"):
        discover(INVENTORY, SENTENCES[:2], MbreContext(chat_model=model), tmp_path)
    assert not model.calls and not (tmp_path / "manifest.json").exists()


def test_extra_input_fields_are_carried_into_the_samples(tmp_path):
    corpus = tmp_path / "in.jsonl"
    first = json.loads((EXAMPLES / "sentences.jsonl").read_text().splitlines()[0])
    extra = {"doc_id": "d7", "domain": {"name": "news", "year": 2024}}
    corpus.write_text(json.dumps({**first, **extra, "confidence": 0.1, "decision": "mine"}) + "\n")
    discover(INVENTORY, read_instances(corpus), MbreContext(chat_model=gold_model()), tmp_path / "run")
    (line,) = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert {key: record[key] for key in extra} == extra
    assert record["decision"]["rule"] == "scored" and record["confidence"] != 0.1  # mbre's own fields win
    assert list(record)[:4] == ["id", "text", "head", "tail"]
    (sample,) = RunDir(tmp_path / "run").samples()
    assert sample.extra == extra and sample.relation == first["relation"]


def test_definitions_too_long_for_the_model_are_refused_before_any_call(tmp_path):
    label = SCHEMA.positive[0].label  # a 600 kB definition
    relations = [
        r.model_copy(update={"description": "x " * 300_000}) if r.label == label else r
        for r in SCHEMA.relations
    ]
    huge = RelationSchema.build(relations, no_relation=SCHEMA.no_relation_label, source="relations.json")
    with pytest.raises(InputError) as info:
        discover(Inventory.build(huge), SENTENCES[:1], MbreContext(model="openai:m"), tmp_path)
    message = str(info.value)
    assert message.startswith("relations.json: field 'description': the definitions are too long")
    assert f"over the context of 128000 tokens (context_tokens); the longest is {label!r}" in message
    assert not (tmp_path / "manifest.json").exists()
