"""The model as entity finder (`--ner llm`): it lists each sentence's entities by name and type, and mbre
locates every name in the sentence itself; a name the sentence does not hold is dropped, never trusted."""

from __future__ import annotations

from collections.abc import Sequence

from mbre.llm.providers import chat_model_for
from mbre.llm.settings import ModelSettings
from mbre.llm.structured import ask_text, list_item
from mbre.pairs.finders import EntityFinder, Found
from mbre.prompts.render import answer_tokens, entity_messages
from mbre.schemas.instances import Span, occurrences


def parse_entities(answer: str) -> list[tuple[str, str]] | None:
    """(name, type) of each `name | type` line; [] for "none"; None when the answer lists nothing."""
    found = []
    for line in answer.splitlines():
        name, bar, kind = list_item(line).partition("|")
        name, kind = name.strip().strip("\"'`"), kind.strip().strip("\"'`.")
        if bar and name and kind:
            found.append((name, kind))
    if not found and answer.strip().strip(".\"'").lower() == "none":
        return []
    return found or None


def llm_finder(settings: ModelSettings, types: Sequence[str] = (), *, retries: int = 1) -> EntityFinder:
    """Entities marked by the extraction role's model; with `types`, only those types (any case) count.
    An answer that lists nothing readable is asked again up to `retries` times."""
    model = chat_model_for(settings, "extraction")
    declared = {kind.lower(): kind for kind in types}

    def find(text: str) -> Found:
        answer = ask_text(
            model,
            entity_messages(text, types),
            parse_entities,
            max_tokens=answer_tokens("entities"),
            retries=retries,
        )
        spans: list[Span] = []
        rejected = 0
        for name, kind in answer.parsed or []:
            where = occurrences(text, name)
            if not where or (declared and kind.lower() not in declared):
                rejected += 1
                continue
            kind = declared.get(kind.lower(), kind)
            spans += [Span(name=name, start=start, end=start + len(name), type=kind) for start in where]
        return Found(entities=_without_overlaps(spans), rejected=rejected, usage=answer.usage)

    return find


def _without_overlaps(spans: list[Span]) -> list[Span]:
    """Each stretch of text once: the longest name first, then in text order."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)
