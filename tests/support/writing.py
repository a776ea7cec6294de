"""A relations file without enough examples, and a scripted model that writes sentences for it and
verifies them: the fixtures of `mbre examples`' tests."""

from __future__ import annotations

from mbre.prompts.render import claim, load
from tests.support.fakes import Messages, Reply, text_of

DOCUMENT = {
    "no_relation": "none_of_these",
    "relations": [
        {
            "relation": "made_by",
            "description": "The head is a product that the tail makes.",
            "owner": "as the user wrote it",
        },
        {"relation": "makes", "description": "The head makes the tail, a product.", "inverse": "made_by"},
        {
            "relation": "born_in",
            "description": "The head was born in the tail.",
            "examples": [{"text": "Ada was born in London.", "head": "Ada", "tail": "London"}],
        },
        {"relation": "none_of_these", "description": "No relation holds."},
    ],
}


def written_sentences(messages: Messages) -> Reply:
    """The model's sentences for each relation: one right, one marked the wrong way round, one wrong."""
    prompt = text_of(messages)
    if "The head is a product that the tail makes." in prompt:
        return Reply(
            "1. <head>The Model T</head> was built by <tail>Ford</tail>.\n"
            "2. <head>Toyota</head> builds the <tail>Corolla</tail>.\n"
            "3. <head>Paris</head> is in <tail>France</tail>."
        )
    if "The head was born in the tail." in prompt:
        return Reply("<head>Marie</head> was born in <tail>Warsaw</tail>.")
    return Reply("<head>Sony</head> makes the <tail>Walkman</tail>.")


def verifier(messages: Messages) -> Reply:
    """Yes to a statement that is true of the world, more surely for the first written sentence."""
    prompt = text_of(messages)
    true = {
        claim("The head is a product that the tail makes.", "The Model T", "Ford"): 0.9,
        claim("The head is a product that the tail makes.", "Corolla", "Toyota"): 0.8,
        claim("The head makes the tail, a product.", "Sony", "Walkman"): 0.7,
    }
    for statement, p in true.items():
        if f"Statement: {statement}" in prompt:
            return Reply("Yes", {"Yes": p, "No": 1 - p})
    return Reply("No", {"Yes": 0.2, "No": 0.8})


def scripted(messages: Messages, schema_name: str = "") -> Reply:
    writing = load("demonstrate")["system"] in text_of(messages)
    return written_sentences(messages) if writing else verifier(messages)
