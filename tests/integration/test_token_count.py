"""The token counter against the real embedded server (llama-server with Qwen2.5-Coder-1.5B on loopback): its
count of a prompt is the `prompt_tokens` the server reports for a one-token completion of the same
messages, so the chat template (and Qwen's default system message, when a prompt has none) is counted.
Both ways the counter asks: `/v1/chat/completions/input_tokens`, and the `/apply-template` and
`/tokenize` of older servers. A few seconds once the model is loaded."""

from __future__ import annotations

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from mbre.inventory.inventory import ALL_LABELS, Inventory
from mbre.llm.local.models import DEFAULT_LOCAL_MODEL
from mbre.llm.local.shared import local_server
from mbre.llm.local.transport import following_clients
from mbre.llm.providers import chat_model
from mbre.llm.settings import ModelSettings
from mbre.llm.tokens import EXACT, LlamaServerTokenizer, TokenCounter, chat_turns, estimate, token_counter
from mbre.prompts.render import extraction_messages, verification_messages

pytestmark = pytest.mark.llm

#: The default embedded model and slots, so the suite shares one server; no cached answers.
SETTINGS = ModelSettings(model="local", cache=False)


def _reported(messages: list[BaseMessage]) -> int:
    """The prompt tokens the server itself counted for these messages."""
    answer = chat_model(SETTINGS).invoke(messages, max_tokens=1)
    return int(answer.usage_metadata["input_tokens"])  # type: ignore[index]


def test_the_count_is_the_servers_own_for_mbre_s_prompts(semeval_schema, semeval_test):
    inventory = Inventory.build(semeval_schema)
    sentence = semeval_test[0]
    group = inventory.asked_labels(0)
    label = semeval_schema.positive[0].label
    prompts = {
        "extraction, one group": extraction_messages(semeval_schema, group, sentence),
        "extraction, every label": extraction_messages(
            semeval_schema, inventory.asked_labels(ALL_LABELS), sentence
        ),
        "verification": verification_messages(semeval_schema, label, sentence),
        "a user turn alone": [HumanMessage("Is smoke the cause of fire? Answer yes or no.")],
    }
    counter = token_counter(SETTINGS, "extraction")
    counted = {name: counter.count(messages) for name, messages in prompts.items()}
    reported = {name: _reported(messages) for name, messages in prompts.items()}
    assert counted == reported
    assert counter.method == EXACT and counter.fallback is None
    server = local_server(DEFAULT_LOCAL_MODEL, slots=SETTINGS.local_slots)
    tokenizer = LlamaServerTokenizer(lambda: (server.url, following_clients(server)[0]), "it", direct=False)
    older = TokenCounter(tokenizer)
    assert {name: older.count(messages) for name, messages in prompts.items()} == reported
    assert older.method == EXACT and not tokenizer.direct
    # The template is in the count: a short user turn alone is mostly template (and a system message).
    alone = prompts["a user turn alone"]
    assert counted["a user turn alone"] > 2 * estimate(chat_turns(alone))
