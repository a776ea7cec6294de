"""Settings from `mbre.toml`, `MBRE_*` environment variables and command-line flags, in rising priority."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from mbre.errors import InputError, SettingError
from mbre.graph.context import MbreContext
from mbre.llm.settings import check_setting

#: Keys of the config file and the environment: the context's fields, less the in-process model object.
SETTINGS = [f.name for f in dataclasses.fields(MbreContext) if f.name != "chat_model"]
_SECRET_KEYS = {"api_key", "openai_api_key", "key", "token"}


def _coerce(name: str, value: Any, *, source: str, line: int | None = None) -> Any:
    try:
        return check_setting(MbreContext, name, value)
    except ValueError as exc:
        raise InputError(source, str(exc), line=line, field=name) from exc


def from_file(path: str | Path) -> dict[str, Any]:
    """Read the settings of a TOML file; unknown keys and secrets are refused with their line."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except OSError as exc:
        raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"line (\d+)", str(exc))
        raise InputError(
            source, f"not valid TOML: {exc}", line=int(where.group(1)) if where else None
        ) from exc
    settings: dict[str, Any] = {}
    for key, value in document.items():
        found = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, flags=re.MULTILINE)
        line = text.count("\n", 0, found.start()) + 1 if found else None
        if key.lower() in _SECRET_KEYS:
            raise InputError(
                source,
                "API keys do not belong in config files: set the environment variable named by "
                "api_key_env (default OPENAI_API_KEY)",
                line=line,
                field=key,
            )
        if key not in SETTINGS:
            raise InputError(source, unknown_setting(key), line=line, field=key)
        settings[key] = _coerce(key, value, source=source, line=line)
    return settings


def unknown_setting(key: str) -> str:
    """The message for a key that is no setting: the nearest settings if it looks like a typo, else
    every setting's name."""
    near = difflib.get_close_matches(key, SETTINGS, n=3, cutoff=0.75)
    if near:
        return f"unknown setting; did you mean {' or '.join(repr(name) for name in near)}?"
    return f"unknown setting; known: {', '.join(SETTINGS)}"


def from_environment(environ: typing.Mapping[str, str] | None = None) -> dict[str, Any]:
    """`MBRE_MODEL=openai:gpt-4o-mini`, `MBRE_EPSILON=0.05`, ...: one variable per setting."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name in SETTINGS:
        variable = f"MBRE_{name.upper()}"
        if variable in environ and environ[variable] != "":
            raw: Any = environ[variable]
            if raw.lower() in ("none", "null"):
                raw = None
            settings[name] = _coerce(name, raw, source=f"environment variable {variable}")
    return settings


def from_flags(flags: typing.Mapping[str, Any]) -> dict[str, Any]:
    """The settings given as command-line flags (None: not given), each checked under its flag's name:
    `--epsilon 2: must be less than or equal to 1`."""
    settings: dict[str, Any] = {}
    for name, value in flags.items():
        if value is None:
            continue
        try:
            settings[name] = check_setting(MbreContext, name, value)
        except ValueError as exc:
            raise SettingError(f"--{name.replace('_', '-')} {value}: {exc}") from exc
    return settings


def load_context(config: str | Path | None = None, **flags: Any) -> MbreContext:
    """The run's context: defaults < config file < environment < command-line flags. Flags that are None
    mean "not given"."""
    settings: dict[str, Any] = {}
    if config is not None:
        settings |= from_file(config)
    settings |= from_environment()
    settings |= from_flags(flags)
    return MbreContext(**settings)
