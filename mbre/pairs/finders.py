"""Entity finders for text without entities (`--ner`): an installed spaCy pipeline, or spaCy EntityRuler
patterns (the names and types a user lists). spaCy is an extra (`mbre[spacy]`), imported when used; a
pipeline is loaded, never downloaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mbre.errors import InputError, SettingError
from mbre.schemas.instances import Span, iter_jsonl
from mbre.schemas.results import Usage

if TYPE_CHECKING:
    from spacy.language import Language

FinderKind = Literal["spacy", "rules", "llm"]
#: spaCy components that set a document's entities.
_ENTITY_FACTORIES = {"ner", "beam_ner", "entity_ruler"}


@dataclass(frozen=True)
class Found:
    """What a finder marked in one sentence: entities with offsets into it."""

    entities: list[Span]
    rejected: int = 0
    """Entities the finder named that are not in the text (the model's), left out."""
    usage: Usage = field(default_factory=Usage)
    """LLM calls and tokens spent (the model's finder)."""


EntityFinder = Callable[[str], Found]


def parse_ner(spec: str) -> tuple[FinderKind, str]:
    """`spacy:PIPELINE`, `rules:patterns.jsonl` or `llm`, as (kind, argument)."""
    kind, _, argument = spec.partition(":")
    if kind == "llm" and not argument:
        return "llm", ""
    if kind == "spacy" and argument:
        return "spacy", argument
    if kind == "rules" and argument:
        return "rules", argument
    raise SettingError(f"--ner {spec}: expected spacy:PIPELINE, rules:patterns.jsonl or llm")


def _spacy() -> Any:
    try:
        import spacy
    except ImportError as exc:
        raise SettingError("this entity finder needs spaCy: pip install 'mbre[spacy]'") from exc
    return spacy


def spacy_finder(pipeline: str) -> EntityFinder:
    """The entities of an installed pipeline (a package name or a directory saved with `to_disk`)."""
    spacy = _spacy()
    try:
        nlp = spacy.load(pipeline)
    except OSError as exc:
        raise SettingError(
            f"cannot load the spaCy pipeline {pipeline!r}: install it first (a package, e.g. from "
            "`python -m spacy download`, or a directory saved with nlp.to_disk); mbre never downloads one"
        ) from exc
    if not _ENTITY_FACTORIES & set(nlp.pipe_factories.values()):
        raise SettingError(f"the spaCy pipeline {pipeline!r} has no component that finds entities")
    return _finder(nlp)


def rules_finder(patterns: Path) -> EntityFinder:
    """EntityRuler patterns, one JSON object a line: `{"label": TYPE, "pattern": "a name" | [token
    patterns]}`; matched on spaCy's language-neutral tokenizer."""
    source = str(patterns)
    rules: list[dict[str, Any]] = []
    for number, record in iter_jsonl(patterns):
        if not isinstance(record, dict):
            raise InputError(source, "expected a JSON object", line=number)
        label, pattern = record.get("label"), record.get("pattern")
        if not isinstance(label, str) or not label.strip():
            raise InputError(
                source, "expected the entity type as a non-empty string", line=number, field="label"
            )
        if not (isinstance(pattern, str) and pattern.strip()) and not (isinstance(pattern, list) and pattern):
            raise InputError(
                source, "expected a phrase or a list of token patterns", line=number, field="pattern"
            )
        rules.append(record)
    if not rules:
        raise InputError(source, "no patterns in the file")
    nlp = _spacy().blank("xx")
    ruler = nlp.add_pipe("entity_ruler")
    try:
        ruler.add_patterns(rules)
    except ValueError as exc:  # a token pattern spaCy's matcher refuses
        raise InputError(source, f"spaCy refuses a pattern: {exc}", field="pattern") from exc
    return _finder(nlp)


def _finder(nlp: Language) -> EntityFinder:
    def find(text: str) -> Found:
        doc = nlp(text)
        return Found(
            [Span(name=e.text, start=e.start_char, end=e.end_char, type=e.label_ or None) for e in doc.ents]
        )

    return find
