"""The errors mbre raises on purpose. Each one derives from `MbreError`, so the command line tells a user's
mistake, a failing service or a failing disk (one line, the error's exit status) from a bug in mbre (a
traceback, exit 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class MbreError(Exception):
    """Something the user can fix or must know about; the message says what, without a traceback."""

    exit_code = 2
    """The command's exit status when this error ends it."""


class InputError(MbreError):
    """Bad user input, located precisely enough to fix without guessing: file, line and field."""

    def __init__(self, source: str, message: str, *, line: int | None = None, field: str | None = None):
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source if line is None else f"{source}:{line}"
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")

    @classmethod
    def from_validation(cls, source: str, error: ValidationError, *, line: int | None = None) -> InputError:
        """The first failure of a pydantic validation, with its field as a dotted path (`head.start`)."""
        first = error.errors()[0]
        return cls(source, first["msg"], line=line, field=pydantic_field(first["loc"]))


class SettingError(MbreError):
    """A setting, option or argument whose value cannot work (`--budget 5eur`, `--limit 0`, ...)."""


class StorageError(MbreError):
    """A file mbre must write, or a store it must use, fails: a full disk, a missing permission, a read-only
    file system, a damaged LLM-call cache. The message names the path and what to do; a run stops at
    once, since every sentence would fail the same way."""

    exit_code = 1

    @classmethod
    def cannot_write(cls, path: object, error: OSError) -> StorageError:
        """`cannot write PATH: No space left on device`, from the OS error of a write."""
        return cls(f"cannot write {path}: {error.strerror or error}")


class Stopped(MbreError):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) stopped a command before it had started its work, or between two
    runs: nothing is lost, and the same command resumes. Exits 128 + the signal's number, as shells do."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def pydantic_field(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into a dotted field path such as `head.start`."""
    return ".".join(str(part) for part in loc) or "(record)"
