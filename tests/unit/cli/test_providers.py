"""Every provider path end to end: `mbre discover` and `mbre plan` through the real integration packages
(langchain-anthropic, langchain-google-genai, langchain-ollama, langchain-openai) against loopback servers
that speak each provider's own wire protocol: the issue's "done when" commands as tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.prompts.render import prompts_hash
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.anthropic_stub import anthropic_server
from tests.support.data import EXAMPLES
from tests.support.fakes import gold_script, is_group_question, options, sampling_script, stating_script
from tests.support.gemini_stub import gemini_server
from tests.support.ollama_stub import ollama_server
from tests.support.openai_stub import stub_server

SECRET = "provider-key-do-not-leak-4242"
runner = CliRunner()
SENTENCES = read_instances(EXAMPLES / "sentences.jsonl")
SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")


def discover(run_dir: Path, *extra: str):
    args = ["discover", "--relations", str(EXAMPLES / "relations.json")]
    return runner.invoke(
        app, [*args, "--input", str(EXAMPLES / "sentences.jsonl"), "--run-dir", str(run_dir), *extra]
    )


def samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def assert_labelled_with_varying_confidence(result, run_dir: Path, source: str) -> list[dict]:
    assert result.exit_code == 0, result.output
    found = samples(run_dir)
    assert sorted(s["id"] for s in found) == sorted(s.id for s in SENTENCES)
    assert all(s["relation"] in SCHEMA.labels for s in found)  # every sentence within the schema
    assert {s["confidence_source"] for s in found} == {source}
    confidences = {s["confidence"] for s in found if s["confidence"] is not None}
    assert len(confidences) > 3 and 0.999999 not in confidences
    assert f"confidence: {source.split(':')[0]}" in result.output
    for text in (
        (run_dir / "samples.jsonl").read_text(),
        (run_dir / "manifest.json").read_text(),
        result.output,
    ):
        assert SECRET not in text
    return found


def test_anthropic_through_the_messages_api_samples_its_confidence(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    run_dir = tmp_path / "run"
    with anthropic_server(sampling_script(SCHEMA, SENTENCES)) as server:
        result = discover(run_dir, "--model", "anthropic:claude-stub", "--base-url", server.url)
    found = assert_labelled_with_varying_confidence(result, run_dir, "sampled:3")
    # The endpoint check asked once whether token probabilities come back; Anthropic has none.
    assert len(server.probe_requests) == 1
    # Every question was a forced tool call whose answer is one of the options, sampled at a temperature.
    bodies = [r["body"] for r in server.requests]
    assert all(b["tool_choice"] == {"type": "tool", "name": "answer"} for b in bodies)
    assert all(b["tools"][0]["input_schema"]["properties"]["answer"]["enum"] for b in bodies)
    assert all(b["temperature"] == 1.0 for b in bodies)
    # The key authenticated every request (this SDK sends it as a bearer token, older ones as x-api-key).
    assert all(
        SECRET in r["headers"].get("x-api-key", r["headers"].get("authorization")) for r in server.requests
    )
    assert found[0]["provenance"]["extraction_model"] == "anthropic:claude-stub"


def test_gemini_through_generate_content_answers_by_enum(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    run_dir = tmp_path / "run"
    with gemini_server(sampling_script(SCHEMA, SENTENCES)) as server:
        result = discover(run_dir, "--model", "google_genai:gemini-stub", "--base-url", server.url)
    assert_labelled_with_varying_confidence(result, run_dir, "sampled:3")
    configs = [r["body"]["generationConfig"] for r in server.requests]
    assert all(c["responseMimeType"] == "application/json" for c in configs)
    assert all(c["responseJsonSchema"]["enum"] for c in configs)
    assert all(r["headers"]["x-goog-api-key"] == SECRET for r in server.requests)


def test_ollama_with_token_probabilities_uses_them(tmp_path):
    run_dir = tmp_path / "run"
    with ollama_server(sampling_script(SCHEMA, SENTENCES)) as server:
        result = discover(run_dir, "--model", "ollama:qwen-stub", "--base-url", server.url)
    assert_labelled_with_varying_confidence(result, run_dir, "logprobs")
    # One answer per question, with its first token's alternatives asked for.
    assert all(r["body"]["logprobs"] is True and r["body"]["top_logprobs"] == 20 for r in server.requests)
    assert all(
        "temperature" not in (r["body"].get("options") or {}) or r["body"]["options"]["temperature"] == 0
        for r in server.requests
    )


def test_an_openai_endpoint_without_token_probabilities_falls_back_to_sampling(tmp_path):
    run_dir = tmp_path / "run"
    with stub_server(sampling_script(SCHEMA, SENTENCES), logprobs=False) as server:
        result = discover(run_dir, "--model", "openai:stub-model", "--base-url", server.base_url)
    assert_labelled_with_varying_confidence(result, run_dir, "sampled:3")
    assert all(r["body"].get("logprobs") is None for r in server.requests)  # not asked for again


def test_an_openai_endpoint_without_token_probabilities_can_state_its_confidence(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('confidence = "verbalized"\n')
    run_dir = tmp_path / "run"
    with stub_server(stating_script(SCHEMA, SENTENCES), logprobs=False) as server:
        args = ("--model", "openai:stub-model", "--base-url", server.base_url, "--config", str(config))
        result = discover(run_dir, *args)
        found = assert_labelled_with_varying_confidence(result, run_dir, "verbalized")
        asked, probes = len(server.requests), len(server.probe_requests)
        again = discover(run_dir, "--model", "openai:stub-model", "--base-url", server.base_url)
    scored = [s for s in found if s["decision"]["rule"] == "scored"]
    assert len(scored) > len(found) / 2 and all(s["relation"] == s["gold"] for s in scored)
    # One call per question, each asking for the word and a percentage, without token probabilities.
    bodies = [r["body"] for r in server.requests[:asked]]
    assert all("as a percentage" in b["messages"][-1]["content"] for b in bodies)
    assert all(b.get("logprobs") is None and b["max_completion_tokens"] == 10 for b in bodies)
    assert probes == 0  # nothing to find out: the user chose the source
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["settings"]["confidence"] == "verbalized"
    # Its wording is among the prompts of this run, and of no other.
    assert manifest["prompt_hash"] == found[0]["provenance"]["prompt_hash"] == prompts_hash(True)
    assert prompts_hash(True) != prompts_hash()
    # A run made with stated confidences is not resumed with another source.
    assert again.exit_code == 2 and "setting confidence: 'verbalized' -> 'sampled'" in again.output


def test_a_model_that_states_one_confidence_for_everything_is_named_early(tmp_path):
    """A model that copies the instruction's example ("A 70%") states a confidence that ranks nothing:
    the run says so after its first sentences, and a model whose stated confidences vary is not warned."""

    def copying(messages, schema_name: str) -> str:
        return f"{options(messages)[0][0]} 70%" if is_group_question(messages) else "Yes 70%"

    with stub_server(copying, logprobs=False) as server:
        args = ("--model", "openai:stub-model", "--base-url", server.base_url, "--confidence", "verbalized")
        copied = discover(tmp_path / "copied", *args)
    with stub_server(stating_script(SCHEMA, SENTENCES), logprobs=False) as server:
        args = ("--model", "openai:stub-model", "--base-url", server.base_url, "--confidence", "verbalized")
        varied = discover(tmp_path / "varied", *args)
    assert copied.exit_code == 0, copied.output
    warning = "stated the same confidence, 70%, for all"
    assert copied.output.count(warning) == 1 and "rank nothing" in copied.output
    assert varied.exit_code == 0 and warning.split(",")[0] not in varied.output


@pytest.mark.parametrize("provider", ["anthropic", "google_genai", "ollama"])
def test_constrained_answers_state_their_confidence_in_the_schema(tmp_path, monkeypatch, provider):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    run_dir = tmp_path / "run"
    server_for = {"anthropic": anthropic_server, "google_genai": gemini_server, "ollama": ollama_server}
    with server_for[provider](stating_script(SCHEMA, SENTENCES)) as server:  # the flag, not the config
        args = ("--model", f"{provider}:stub", "--base-url", server.url, "--confidence", "verbalized")
        result = discover(run_dir, *args)
    assert_labelled_with_varying_confidence(result, run_dir, "verbalized")
    # The forced answer is an object: the option, and the confidence the model states.
    bodies = [r["body"] for r in server.requests]
    schema_of = {
        "anthropic": lambda body: body["tools"][0]["input_schema"],
        "google_genai": lambda body: body["generationConfig"]["responseJsonSchema"],
        "ollama": lambda body: body["format"],
    }[provider]
    schemas = [schema_of(body) for body in bodies]
    assert all(
        s["required"] == ["answer", "confidence"] and s["properties"]["answer"]["enum"] for s in schemas
    )
    assert server.probe_requests == []


def test_demanding_logprobs_from_an_endpoint_without_them_fails_before_any_sentence(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('confidence = "logprobs"\n')
    run_dir = tmp_path / "run"
    with stub_server(gold_script(SCHEMA, SENTENCES), logprobs=False) as server:
        result = discover(
            run_dir, "--model", "openai:stub-model", "--base-url", server.base_url, "--config", str(config)
        )
    assert result.exit_code == 2
    assert "returns no token probabilities, and confidence = logprobs" in result.output
    assert server.requests == [] and not (run_dir / "samples.jsonl").exists()


def test_answers_that_do_not_parse_stop_the_run_early(tmp_path):
    run_dir = tmp_path / "run"
    with stub_server(lambda messages, schema: "I would say the first option fits best") as server:
        result = discover(
            run_dir, "--model", "openai:stub-model", "--base-url", server.base_url, "--concurrency", "1"
        )
    assert result.exit_code != 0
    assert "did not parse, e.g. 'I would say the first option fits best'" in result.output
    assert len(samples(run_dir)) < len(SENTENCES)  # stopped early, the samples so far kept
    assert len(server.requests) < 15 * len(SENTENCES)


def test_confidence_none_claims_no_confidence(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('confidence = "none"\n')
    run_dir = tmp_path / "run"
    with stub_server(gold_script(SCHEMA, SENTENCES)) as server:
        result = discover(
            run_dir, "--model", "openai:stub-model", "--base-url", server.base_url, "--config", str(config)
        )
    assert result.exit_code == 0, result.output
    found = samples(run_dir)
    assert {s["confidence_source"] for s in found} == {"none"} and server.probe_requests == []
    assert all(s["confidence"] is None for s in found)
    assert {s["decision"]["rule"] for s in found} <= {"unscored", "no_candidate"}
    assert all(s["relation"] == s["gold"] for s in found)


def test_per_role_models_are_recorded_apart(tmp_path):
    run_dir, config = tmp_path / "run", tmp_path / "mbre.toml"
    with ollama_server(sampling_script(SCHEMA, SENTENCES)) as ollama:
        config.write_text(
            'extraction_model = "ollama:qwen-groups"\nverification_model = "ollama:qwen-verify"\n'
            f'base_url = "{ollama.url}"\n'
        )
        result = discover(run_dir, "--config", str(config))
    assert result.exit_code == 0, result.output
    provenance = samples(run_dir)[0]["provenance"]
    assert provenance["extraction_model"] == "ollama:qwen-groups"
    assert provenance["verification_model"] == "ollama:qwen-verify"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["settings"]["extraction_model"] == "ollama:qwen-groups"
    assert manifest["settings"]["verification_model"] == "ollama:qwen-verify"
    asked = {
        (r["body"]["model"], "Statement:" in r["body"]["messages"][-1]["content"]) for r in ollama.requests
    }
    assert asked == {("qwen-groups", False), ("qwen-verify", True)}


def test_plan_prices_a_hosted_model_without_any_server(tmp_path):
    args = [
        "plan",
        "--relations",
        str(EXAMPLES / "relations.json"),
        "--input",
        str(EXAMPLES / "sentences.jsonl"),
    ]
    result = runner.invoke(app, [*args, "--model", "openai:gpt-4o-mini", "--strategies", "mbre"])
    assert result.exit_code == 0, result.output
    assert "with openai:gpt-4o-mini" in result.output
    assert "calibration calls" in result.output.replace("\n", " ") or "calibration" in result.output
    assert "$" in result.output and "embedded server" not in result.output


def test_plan_prices_each_role_at_its_model(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('extraction_model = "openai:gpt-4o-mini"\nverification_model = "openai:gpt-4o"\n')
    args = [
        "plan",
        "--relations",
        str(EXAMPLES / "relations.json"),
        "--input",
        str(EXAMPLES / "sentences.jsonl"),
    ]
    result = runner.invoke(app, [*args, "--config", str(config), "--strategies", "binary"])
    assert result.exit_code == 0, result.output
    assert "by role" in result.output and "openai:gpt-4o " in result.output


@pytest.mark.parametrize(
    "provider, extra", [("groq", "groq"), ("mistralai", "mistralai"), ("bedrock_converse", "aws")]
)
def test_a_missing_integration_is_one_line_naming_the_extra(tmp_path, provider, extra):
    result = discover(tmp_path / "run", "--model", f"{provider}:some-model")
    assert result.exit_code == 2
    assert f"pip install 'mbre[{extra}]'" in result.output
