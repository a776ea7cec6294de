"""The shipped examples: the relation inventory, sentences and config load, and examples/run_graph.py runs
end to end against a scripted model."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from types import ModuleType

import pytest

from mbre import MbreContext, RelationSchema, read_instances
from mbre.run.config import SETTINGS, from_file
from tests.support.data import EXAMPLES
from tests.support.fakes import ScriptedChatModel, gold_model, is_group_question


@pytest.fixture(scope="module")
def schema() -> RelationSchema:
    return RelationSchema.from_file(EXAMPLES / "relations.json")


def test_example_schema_loads(schema: RelationSchema) -> None:
    assert len(schema.labels) == 13
    assert schema.no_relation_label == "no_relation"
    assert [r.label for r in schema.relations if r.no_relation] == ["no_relation"]
    for relation in schema.positive:
        assert "the head" in relation.description.lower() and "the tail" in relation.description
        assert len(relation.examples) == 1, relation.label
        for example in relation.examples:
            assert example.head in example.text and example.tail in example.text, relation.label


def test_example_sentences_validate(schema: RelationSchema) -> None:
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    assert len(sentences) >= 15
    assert all(s.relation in schema.labels for s in sentences)
    assert sum(s.relation == schema.no_relation_label for s in sentences) >= 3
    demos = {e.text for r in schema.relations for e in r.examples}
    assert not demos & {s.text for s in sentences}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_graph_example", EXAMPLES / "run_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gold_answering_model() -> ScriptedChatModel:
    """A fake LLM that knows each example sentence's gold label and answers every prompt accordingly."""
    return gold_model(
        RelationSchema.from_file(EXAMPLES / "relations.json"), read_instances(EXAMPLES / "sentences.jsonl")
    )


def test_run_graph_script(capsys: pytest.CaptureFixture[str]) -> None:
    model = _gold_answering_model()
    assert _load_script().main([], chat_model=model) == 0
    out = capsys.readouterr().out
    first = out.split("\n\n")[0]
    assert "label=founded_by" in first and "rule=scored" in first
    for node in ("route", "extract", "propose", "verify", "decide"):
        assert f"update  {node}" in out
    assert "'event': 'decided'" in out and "'label': 'ceo_of'" in out
    assert any(is_group_question(m) for m in model.calls)
    assert not all(is_group_question(m) for m in model.calls)


def _assignments(text: str, commented: bool) -> dict[str, object]:
    """The `key = value` lines of a TOML text, the commented-out ones (`# key = value`) or the others."""
    prefix = "# " if commented else ""
    lines = [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]
    document = tomllib.loads("\n".join(line for line in lines if re.match(r"[a-z_]+ = ", line)))
    return dict(document)


def test_example_config_names_every_setting_and_states_the_defaults():
    text = (EXAMPLES / "mbre.toml").read_text()
    active, commented = _assignments(text, commented=False), _assignments(text, commented=True)
    assert sorted([*active, *commented]) == sorted(SETTINGS)  # each setting exactly once
    assert from_file(EXAMPLES / "mbre.toml") == active
    defaults = MbreContext()
    assert all(getattr(defaults, name) == value for name, value in active.items())
    assert all(getattr(defaults, name) in (None, ()) for name in commented)


def test_example_config_commented_values_are_valid(tmp_path):
    """Uncommented, every example value loads: the file never suggests a value mbre refuses."""
    text = (EXAMPLES / "mbre.toml").read_text()
    config = tmp_path / "mbre.toml"
    config.write_text(re.sub(r"^# ([a-z_]+ = )", r"\1", text, flags=re.MULTILINE))
    settings = from_file(config)
    assert set(settings) == set(SETTINGS)
    assert MbreContext(**settings).route_top_k == 2


def test_the_per_role_example_config_loads_with_a_model_per_role() -> None:
    from mbre.run.config import load_context

    ctx = load_context(EXAMPLES / "per-role.toml")
    assert ctx.model_name("extraction") == "openai:gpt-4o-mini"
    assert ctx.model_name("verification") == "anthropic:claude-haiku-4-5"
    assert ctx.confidence == "auto"
