"""`mbre plan`: call and token bounds per strategy, from the rendered prompts, with no LLM call."""

from __future__ import annotations

from typer.testing import CliRunner

from mbre import MbreContext
from mbre.cli.app import app
from mbre.inventory.inventory import Inventory
from mbre.prompts.render import answer_tokens, verification_messages
from mbre.run.plan import plan
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
INVENTORY = Inventory.build(SCHEMA)  # 13 labels: 12 positive, K = 2 groups
SENTENCES = read_instances(EXAMPLES / "sentences.jsonl")[:3]


def test_calls_per_strategy_match_the_method():
    binary = plan(INVENTORY, SENTENCES, MbreContext(strategy="binary"))
    assert binary.low == binary.high and binary.low.calls == 3 * 12
    first = SENTENCES[0]
    prompt = sum(
        sum(
            len(str(m.content))
            for m in verification_messages(
                SCHEMA, r.label, first, INVENTORY.demonstrations.for_labels([r.label], first, 1)
            )
        )
        // 4
        for r in SCHEMA.positive
    )
    assert plan(INVENTORY, [first], MbreContext(strategy="binary")).low.prompt_tokens == prompt
    assert binary.low.completion_tokens == 36 * answer_tokens("verify")

    multiclass = plan(INVENTORY, SENTENCES, MbreContext(strategy="multiclass"))
    assert multiclass.low.calls == multiclass.high.calls == 3

    paper = plan(INVENTORY, SENTENCES, MbreContext(decision="paper"))
    assert (paper.low.calls, paper.high.calls) == (3 * 2, 3 * 2 * 2)  # K asks, then up to K verifications
    # The upper bound adds the two longest of the 12 yes/no prompts per sentence.
    verified = paper.high.prompt_tokens - paper.low.prompt_tokens
    assert binary.high.prompt_tokens / 12 * 2 <= verified < binary.high.prompt_tokens

    # The calibrated decision verifies every group's favourite, and perhaps the leader's inverse.
    calibrated = plan(INVENTORY, SENTENCES, MbreContext())
    assert (calibrated.low.calls, calibrated.high.calls) == (3 * 4, 3 * 5)

    routed = plan(INVENTORY, SENTENCES, MbreContext(route_top_k=1, decision="paper"))
    assert (routed.low.calls, routed.high.calls) == (3, 6)  # the nearest relation's group only


def test_the_plan_command_prints_bounds_without_any_call(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "--relations",
            str(EXAMPLES / "relations.json"),
            "--input",
            str(EXAMPLES / "sentences.jsonl"),
        ],
        env={"MBRE_MODEL": "openai:unreachable", "MBRE_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "plan for 21 sentences" in text
    assert "binary │ 252 │ 12.00" in text and "multiclass │ 21 │ 1.00" in text
    assert "mbre │ 84 .. 105 │ 4.00 .. 5.00" in text
