"""Keys stay secret even when a provider echoes them; sentence text cannot steer a label out of the schema."""

from __future__ import annotations

from typer.testing import CliRunner

from mbre import MbreContext, build_graph
from mbre.cli.app import app
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
