"""Settings from `mbre.toml`, `MBRE_*` environment variables and command-line flags, in rising priority."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mbre.errors import InputError
from mbre.graph.context import MbreContext

#: Keys of the config file and the environment: the context's fields, less the in-process model object.
SETTINGS = [f.name for f in dataclasses.fields(MbreContext) if f.name != "chat_model"]
_SECRET_KEYS = {"api_key", "openai_api_key", "key", "token"}


def _types() -> dict[str, Any]:
    return typing.get_type_hints(MbreContext)


def _coerce(name: str, value: Any, *, source: str, line: int | None = None) -> Any:
    try:
        return TypeAdapter(_types()[name]).validate_python(value, strict=False)
    except ValidationError as exc:
        raise InputError(source, exc.errors()[0]["msg"], line=line, field=name) from exc


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
            raise InputError(source, f"unknown setting; known: {', '.join(SETTINGS)}", line=line, field=key)
        settings[key] = _coerce(key, value, source=source, line=line)
    return settings


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


def load_context(config: str | Path | None = None, **overrides: Any) -> MbreContext:
    """The run's context: defaults < config file < environment < explicit overrides (CLI flags).
    Overrides that are None mean "not given"."""
    settings: dict[str, Any] = {}
    if config is not None:
        settings |= from_file(config)
    settings |= from_environment()
    settings |= {k: v for k, v in overrides.items() if v is not None}
    return MbreContext(**settings)
