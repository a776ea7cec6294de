"""Keys stay secret even when a provider echoes them; sentence text cannot steer a label out of the schema."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mbre import MbreContext, build_graph
from mbre.cli.app import app
from mbre.prompts.render import marked_sentence
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, INJECTIONS, injected
from tests.support.fakes import content_free, gold_script, is_group_question
from tests.support.openai_stub import Fault, stub_server

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
SECRET = "sk-file-secret-9137"


def test_the_key_comes_from_a_key_file_and_an_echoing_provider_never_leaks_it(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n")
    (tmp_path / "mbre.toml").write_text(f'api_key_file = "{key_file}"\n')
    sentences = read_instances(EXAMPLES / "sentences.jsonl")[:2]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(s.model_dump_json() + "\n" for s in sentences))
    refusal = Fault("bad_request", status=401, message=f"Incorrect API key provided: {SECRET}.")
    args = ["discover", "--relations", str(EXAMPLES / "relations.json"), "--input", str(corpus)]
    args += ["--run-dir", str(tmp_path / "run"), "--config", str(tmp_path / "mbre.toml")]
    with stub_server(gold_script(SCHEMA, sentences), lambda n, body: refusal) as server:
        result = CliRunner().invoke(app, [*args, "--model", "openai:m", "--base-url", server.base_url])
    assert result.exit_code == 1, result.output  # both sentences failed, reported, not crashed
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    failures = (tmp_path / "run" / "failures.jsonl").read_text()
    assert "Incorrect API key provided: ***" in failures
    for text in (failures, result.output, (tmp_path / "run" / "manifest.json").read_text()):
        assert SECRET not in text


def test_an_obedient_model_cannot_put_an_injected_label_into_a_sample(tmp_path):
    instances = [injected(text, f"inj{i}") for i, text in enumerate(INJECTIONS)]
    asked: list[bool] = []

    def obey(messages, schema_name):  # a model that does what the sentence says
        asked.append(is_group_question(messages) and not content_free(messages))
        return "PWNED"

    with stub_server(obey) as server:
        ctx = MbreContext(model="openai:m", base_url=server.base_url, cache_path=str(tmp_path / "c.db"))
        graph = build_graph(SCHEMA)
        for instance in instances:
            decision = graph.invoke({"instance": instance}, context=ctx)["decision"]
            assert decision.label is None and decision.rule == "abstained"
            assert all(e.label is None and e.abstained and "PWNED" in e.raw for e in decision.extractions)
    assert asked.count(True) == len(instances) * 2 * 2  # K = 2 groups, each asked and re-asked


def test_no_file_a_run_writes_holds_the_key_or_the_url_password(tmp_path, monkeypatch):
    key, password = "sk-scan-for-me-31337", "pa55-w0rd-scan-me"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    sentences = read_instances(EXAMPLES / "sentences.jsonl")[:6]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(s.model_dump_json() + "\n" for s in sentences))
    refused = {marked_sentence(s) for s in sentences[:2]}

    def echo_the_secrets(number, body):  # a provider error that quotes the key and the URL it was sent to
        if any(text in json.dumps(body) for text in refused):
            message = f"key {key} not allowed at http://mbre:{password}@127.0.0.1/v1 (password {password})"
            return Fault("bad_request", message=message)
        return None

    relations = str(EXAMPLES / "relations.json")
    with stub_server(gold_script(SCHEMA, sentences), echo_the_secrets) as server:
        url = server.base_url.replace("http://", f"http://mbre:{password}@")
        common = ["--model", "openai:m", "--base-url", url, "--config", str(tmp_path / "mbre.toml")]
        (tmp_path / "mbre.toml").write_text(f'base_url = "{url}"\n')
        run, trace, report = str(tmp_path / "run"), str(tmp_path / "trace.jsonl"), str(tmp_path / "report")
        discover = ["discover", "--relations", relations, "--input", str(corpus), "--run-dir", run]
        discovered = CliRunner().invoke(app, [*discover, "--trace", trace, *common])
        evaluate = ["evaluate", "--relations", relations, "--gold", str(corpus), "--report-dir", report]
        evaluated = CliRunner().invoke(app, [*evaluate, "--strategies", "mbre,multiclass", *common])
    assert discovered.exit_code == 1 and evaluated.exit_code == 1, discovered.output + evaluated.output
    assert all(r["headers"]["authorization"].startswith("Basic ") for r in server.requests)  # it was sent

    written = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()}
    assert {
        "run/manifest.json",
        "run/samples.jsonl",
        "run/failures.jsonl",
        "run/timing.jsonl",
        "run/run.lock",
        "trace.jsonl",
        "report/report.json",
        "report/report.md",
        "report/mbre/failures.jsonl",
    } <= written
    assert (
        "key *** not allowed at http://***@127.0.0.1/v1 (password ***)"
        in (tmp_path / "trace.jsonl").read_text()
    )
    for name in written - {"mbre.toml"}:  # the config file is the user's own
        data = (tmp_path / name).read_bytes()
        assert key.encode() not in data and password.encode() not in data, name
    for output in (discovered.output, evaluated.output):
        assert key not in output and password not in output


def test_a_key_inside_the_users_data_and_the_models_answers_is_stored_exactly(tmp_path, monkeypatch):
    """`lm-studio`, a usual dummy key of local servers, is also a word of the corpus: the sentence, its
    head, a definition and the model's answers keep it byte for byte in every file; only mbre's own text
    (a failure that echoes it) is masked."""
    key = "lm-studio"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    relations = json.loads((EXAMPLES / "relations.json").read_text())
    definition = f"A {key} project founded by its maintainers counts."
    relations[0]["description"] += " " + definition
    (tmp_path / "relations.json").write_text(json.dumps(relations))
    schema = RelationSchema.from_file(tmp_path / "relations.json")
    text = f"The {key} project was founded by Jane Roe of Acme in 2021."
    head, tail = f"{key} project", "Jane Roe"
    keyed = {
        "id": "keyed",
        "text": text,
        "head": {"name": head, "start": text.index(head), "end": text.index(head) + len(head)},
        "tail": {"name": tail, "start": text.index(tail), "end": text.index(tail) + len(tail)},
        "relation": "founded_by",
        "note": f"kept as {key} wrote it",
    }
    others = read_instances(EXAMPLES / "sentences.jsonl")[:2]
    lines = [json.dumps(keyed, ensure_ascii=False)] + [s.model_dump_json(exclude_none=True) for s in others]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(line + "\n" for line in lines))
    sentences = read_instances(corpus)
    gold = gold_script(schema, sentences)
    refused = marked_sentence(sentences[2])

    def answer_with_the_key(messages, schema_name):  # the first word is the answer; the rest is kept raw
        return f"{gold(messages, schema_name)} {key}"

    def echo(number, body):
        return Fault("bad_request", message=f"key {key} refused") if refused in json.dumps(body) else None

    run, review, exported = tmp_path / "run", tmp_path / "review", tmp_path / "ds"
    with stub_server(answer_with_the_key, echo) as server:
        args = ["discover", "--relations", str(tmp_path / "relations.json"), "--input", str(corpus)]
        args += ["--run-dir", str(run), "--model", "openai:m", "--base-url", server.base_url]
        discovered = CliRunner().invoke(app, args)
    assert discovered.exit_code == 1, discovered.output  # the echoing refusal failed one sentence
    assert any(definition in json.dumps(r["body"]) for r in server.requests)  # asked as written
    runner = CliRunner()
    assert runner.invoke(app, ["view", str(run)]).exit_code == 0
    assert (
        runner.invoke(app, ["review", "export", str(run), "--out", str(review), "--select", "all"]).exit_code
        == 0
    )
    done = runner.invoke(app, ["export", str(run), "--format", "jsonl", "--out", str(exported)])
    assert done.exit_code == 0, done.output

    written = (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(written) == 2
    (line,) = [line for line in written if line.startswith('{"id": "keyed"')]
    sample = json.loads(line)
    assert {field: sample[field] for field in ("id", "text", "head", "tail", "note")} == {
        field: keyed[field] for field in ("id", "text", "head", "tail", "note")
    }
    assert sample["text"][sample["head"]["start"] : sample["head"]["end"]] == head
    raws = [e["raw"] for e in sample["decision"]["extractions"]] + [
        v["raw"] for v in sample["decision"]["verdicts"]
    ]
    assert raws and all(raw.endswith(f" {key}") for raw in raws)
    tasks = json.loads((review / "tasks.json").read_text(encoding="utf-8"))
    (task,) = [t["data"] for t in tasks if t["data"]["mbre_id"] == "keyed"]
    assert (task["text"], task["head"]["name"]) == (text, head)
    assert json.dumps(text) in (run / "samples.html").read_text(encoding="utf-8")
    train = [json.loads(line) for line in (exported / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(row["text"] == text for row in train)
    # mbre's own words: the failure is masked, and nothing else of mbre's holds the key.
    assert "key *** refused" in (run / "failures.jsonl").read_text()
    for own in ("failures.jsonl", "manifest.json", "timing.jsonl"):
        assert key not in (run / own).read_text(), own
    assert key not in discovered.output
