"""`mbre plan`: call and token bounds per strategy, from the rendered prompts, with no LLM call."""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest
from typer.testing import CliRunner

from mbre import MbreContext
from mbre.cli.app import app
from mbre.inventory.inventory import Inventory
from mbre.llm.tokens import TokenCounter, Turns
from mbre.prompts.render import answer_tokens, verbalized_messages, verification_messages
from mbre.run import plan as plan_module
from mbre.run.plan import Cost
from mbre.schemas.answers import YES_NO
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.fake_llama_server import serving

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
INVENTORY = Inventory.build(SCHEMA)  # 13 labels: 12 positive, K = 2 groups
SENTENCES = read_instances(EXAMPLES / "sentences.jsonl")[:3]
#: Both roles counted at ~4 characters a token, so no test here starts the embedded server.
ESTIMATED = {"extraction": TokenCounter(), "verification": TokenCounter()}
plan = partial(plan_module.plan, count=ESTIMATED)


class Turns10:
    """A tokenizer that counts 10 tokens a turn, and the prompts it was asked."""

    where = "ten"

    def __init__(self) -> None:
        self.asked: list[Turns] = []

    def count(self, turns: Turns) -> int:
        self.asked.append(turns)
        return 10 * len(turns)


def test_each_role_s_prompts_are_counted_by_its_model_s_counter():
    extraction, verification = Turns10(), Turns10()
    count = {"extraction": TokenCounter(extraction), "verification": TokenCounter(verification)}
    row = plan_module.plan(INVENTORY, SENTENCES[:1], MbreContext(strategy="binary"), count)
    assert row.low.prompt_tokens == 12 * 20  # 12 yes/no prompts of two turns (system and user)
    # ... and each label's question about the 3 content-free sentences, asked once for the run.
    assert row.calibration[0] == Cost(36, 36 * 20, 36 * answer_tokens("verify"))
    assert row.roles["verification"][0] == row.low + row.calibration[0]
    assert extraction.asked == [] and len(verification.asked) == 12 + 36
    plan_module.plan(INVENTORY, SENTENCES[:1], MbreContext(decision="paper"), count)
    # The same prompts are counted once; the 2 groups' questions, and theirs about content-free sentences.
    assert len(extraction.asked) == 2 + 2 * 3 and len(verification.asked) == 12 + 36
    plan_module.plan(INVENTORY, SENTENCES[:1], MbreContext(strategy="multiclass"), count)
    assert len(verification.asked) == 12 + 36  # the multiclass baseline verifies nothing: nothing rendered


def test_sampled_confidence_asks_every_question_k_times_and_each_role_has_its_price():
    once = plan(INVENTORY, SENTENCES, MbreContext(strategy="binary", model="openai:gpt-4o-mini"))
    claude = MbreContext(strategy="binary", model="anthropic:claude-haiku-4-5")
    sampled = plan(INVENTORY, SENTENCES, claude)
    assert sampled.total[0] == once.total[0] * claude.confidence_samples  # auto: Claude gives no logprobs
    two = MbreContext(
        model="openai:gpt-4o-mini", verification_model="openai:gpt-4o", strategy="binary", logprobs=True
    )
    row = plan(INVENTORY, SENTENCES, two)
    assert plan_module.role_price(two, "verification") == (2.50, 10.00)
    verification = row.roles["verification"][1]
    expected = (verification.prompt_tokens * 2.50 + verification.completion_tokens * 10.00) / 1e6
    assert plan_module.money(row, two) == pytest.approx((expected, expected))  # binary asks no group
    priced = dataclasses.replace(two, price_prompt_per_million=1.0, price_completion_per_million=1.0)
    assert plan_module.role_price(priced, "verification") == (1.0, 1.0)  # the config overrides the table


def test_verbalized_confidence_asks_each_question_once_in_its_own_wording():
    first = SENTENCES[0]
    plain = plan(INVENTORY, [first], MbreContext(strategy="binary", confidence="logprobs"))
    # No token probabilities (logprobs off) would make `auto` sample K times; a stated confidence is one call.
    stated = plan(INVENTORY, [first], MbreContext(strategy="binary", confidence="verbalized", logprobs=False))
    assert stated.low.calls == plain.low.calls == 12
    assert stated.calibration[0].calls == plain.calibration[0].calls == 36
    assert stated.low.completion_tokens == 12 * answer_tokens("verify", verbalized=True) == 12 * 10
    asked = [
        verbalized_messages(
            verification_messages(
                SCHEMA, r.label, first, INVENTORY.demonstrations.for_labels([r.label], first, 1)
            ),
            "verify",
            YES_NO,
        )
        for r in SCHEMA.positive
    ]
    assert stated.low.prompt_tokens == sum(sum(len(str(m.content)) for m in q) // 4 for q in asked)
    assert stated.low.prompt_tokens > plain.low.prompt_tokens


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

    # The calibrated decision verifies the favourites that pass the share (perhaps none), and perhaps the
    # leader's inverse; at share 0 every group's favourite; widening adds up to extra_verifications.
    calibrated = plan(INVENTORY, SENTENCES, MbreContext())
    assert (calibrated.low.calls, calibrated.high.calls) == (3 * 2, 3 * 5)
    every = plan(INVENTORY, SENTENCES, MbreContext(candidate_share=0.0))
    assert (every.low.calls, every.high.calls) == (3 * 4, 3 * 5)
    widened = plan(INVENTORY, SENTENCES, MbreContext(extra_verifications=2))
    assert (widened.low.calls, widened.high.calls) == (3 * 2, 3 * 7)
    bounded = plan(INVENTORY, SENTENCES, MbreContext(extra_verifications=2, max_verifications=1))
    assert bounded.high.calls == 3 * 3

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
    assert "counting prompt tokens with http://127.0.0.1:9: no LLM call" in text
    assert "/input_tokens failed (ConnectError" in text  # the warning, then the estimate
    assert "plan for 21 sentences of" in text and "(tokens: ~4 chars a token)" in text
    # Each total counts the content-free calibration questions: binary 12 labels x 3 sentences, multiclass
    # its one question x 3, mbre its 2 groups' and at most every label's.
    assert "binary │ 288 │ 12.00 │ 36 │" in text and "multiclass │ 24 │ 1.00 │ 3 │" in text
    assert (
        "mbre │ 48 .. 147 │ 2.00 .. 5.00 │ 6 .. 42 │" in text
    )  # a sentence whose groups name no candidate: 2


@pytest.mark.parametrize("base", ["/v1", "/v1/"])
def test_the_plan_command_counts_with_a_llama_cpp_server_s_tokenizer(base):
    arguments = ["plan", "--relations", str(EXAMPLES / "relations.json")]
    arguments += ["--input", str(EXAMPLES / "sentences.jsonl"), "--strategies", "binary"]
    with serving() as url:
        result = CliRunner().invoke(
            app, arguments, env={"MBRE_MODEL": "openai:q", "MBRE_BASE_URL": url + base}
        )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"counting prompt tokens with {url}: no LLM call" in text
    assert "(tokens: exact, model's tokenizer)" in text and "warning" not in text
