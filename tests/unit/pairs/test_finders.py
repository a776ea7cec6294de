"""Entity finders for plain text: a real spaCy pipeline saved to disk, EntityRuler patterns, and the model's
list with every name located in the sentence (a scripted model here; the embedded one in integration)."""

from __future__ import annotations

import json

import pytest
import spacy

from mbre.errors import InputError, SettingError
from mbre.llm.settings import ModelSettings
from mbre.pairs.finders import parse_ner, rules_finder, spacy_finder
from mbre.pairs.marking import llm_finder, parse_entities
from tests.support.fakes import Reply, ScriptedChatModel, text_of


@pytest.fixture
def saved_pipeline(tmp_path):
    """A blank English pipeline with an EntityRuler, saved as a user's own pipeline would be."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "ORG", "pattern": "Acme Corp"}, {"label": "PERSON", "pattern": [{"LOWER": "ada"}]}]
    )
    nlp.to_disk(tmp_path / "pipeline")
    return tmp_path / "pipeline"


def test_a_saved_spacy_pipeline_marks_entities_with_offsets_and_types(saved_pipeline):
    find = spacy_finder(str(saved_pipeline))
    found = find("Yesterday ada joined Acme Corp as its chief.")
    assert [(e.name, e.start, e.end, e.type) for e in found.entities] == [
        ("ada", 10, 13, "PERSON"),
        ("Acme Corp", 21, 30, "ORG"),
    ]


def test_a_pipeline_that_is_not_installed_is_never_downloaded(tmp_path):
    with pytest.raises(SettingError, match="never downloads"):
        spacy_finder("xx_no_such_pipeline_sm")
    spacy.blank("en").to_disk(tmp_path / "empty")
    with pytest.raises(SettingError, match="no component that finds entities"):
        spacy_finder(str(tmp_path / "empty"))


def test_rules_from_a_patterns_file(tmp_path):
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text(
        json.dumps({"label": "drug", "pattern": "aspirin"})
        + "\n"
        + json.dumps({"label": "disease", "pattern": "heart attack"})
        + "\n"
    )
    found = rules_finder(patterns)("Aspirin and aspirin lower the risk of a heart attack.")
    assert [(e.name, e.type) for e in found.entities] == [("aspirin", "drug"), ("heart attack", "disease")]


def test_a_bad_pattern_names_its_line_and_field(tmp_path):
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text(
        json.dumps({"label": "drug", "pattern": "aspirin"}) + "\n" + json.dumps({"pattern": "x"}) + "\n"
    )
    with pytest.raises(InputError) as error:
        rules_finder(patterns)
    assert (error.value.line, error.value.field) == (2, "label")


def test_the_ner_option_is_parsed_or_refused():
    assert parse_ner("spacy:en_core_web_sm") == ("spacy", "en_core_web_sm")
    assert parse_ner("rules:p.jsonl") == ("rules", "p.jsonl")
    assert parse_ner("llm") == ("llm", "")
    with pytest.raises(SettingError, match="expected spacy:PIPELINE"):
        parse_ner("stanza:en")


def test_the_models_list_is_parsed_line_by_line():
    assert parse_entities('- Ada Lovelace | person\n2. "Acme" | org.\nno bar here') == [
        ("Ada Lovelace", "person"),
        ("Acme", "org"),
    ]
    assert parse_entities("None.") == []
    assert parse_entities("I cannot tell.") is None


def test_the_models_entities_are_located_in_the_sentence_and_checked():
    answers = iter(["Sorry?", "Ada | Person\nBabbage | person\nLondon | city\nAda Lovelace | person"])
    model = ScriptedChatModel(responder=lambda messages: Reply(next(answers)))
    find = llm_finder(ModelSettings(chat_model=model), ["person", "org"])
    found = find("Ada Lovelace wrote to Ada's friend Babbage.")
    # Asked again once after an unreadable answer; "London" is not in the text and "city" not a
    # declared type; "Ada" inside "Ada Lovelace" gives way to the longer name, its other occurrence stays.
    assert len(model.calls) == 2 and "Use only these types: person, org." in text_of(model.calls[0])
    assert [(e.name, e.start, e.end, e.type) for e in found.entities] == [
        ("Ada Lovelace", 0, 12, "person"),
        ("Ada", 22, 25, "person"),
        ("Babbage", 35, 42, "person"),
    ]
    assert found.rejected == 1 and found.usage.calls == 2
