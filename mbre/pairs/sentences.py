"""Sentence splitting of plain text by punctuation, keeping character offsets into the text."""

from __future__ import annotations

import re

#: A sentence ends at . ! ? (closing quotes and brackets included) before a space, or at a blank line.
_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)|\n[ \t]*\n")
#: A full stop after one capital letter is an initial (`J. Smith`), not a sentence's end.
_INITIAL = re.compile(r"(?<!\w)[A-Z]\.$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, whitespace trimmed, in order. A stop is not an end when the
    next word starts in lower case or the stop closes an initial: wrong splits cut entity pairs apart."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(text):
        end = match.end()
        following = text[end:].lstrip()
        if match.group().strip() and (following[:1].islower() or _INITIAL.search(text[start:end])):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    return [trimmed for span in spans if (trimmed := _trim(text, *span)) is not None]


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    piece = text[start:end]
    if not piece.strip():
        return None
    return start + len(piece) - len(piece.lstrip()), end - (len(piece) - len(piece.rstrip()))
