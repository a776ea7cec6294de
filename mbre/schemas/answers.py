"""The answers the LLM gives: an option letter for a group of relations, yes or no for a verification."""

from __future__ import annotations

from string import ascii_letters

from mbre.errors import SettingError

#: A group's answer for "none of these relations"; its option is always offered last.
NONE_LABEL = "none"
#: The one-word answers of a verification, "yes" first.
YES_NO = ("yes", "no")
#: Option letters, in order: A to Z, then a to z. Each is one token for the tokenizers in use, so the
#: answer's first token carries the probability of every option.
LETTERS = ascii_letters[26:] + ascii_letters[:26]


def option_letters(count: int) -> tuple[str, ...]:
    """The letters of `count` options (the group's labels and "none")."""
    if count > len(LETTERS):
        raise SettingError(
            f"one question offers at most {len(LETTERS)} options, not {count}: use more relation groups"
        )
    return tuple(LETTERS[:count])
