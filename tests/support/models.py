"""The embedded models in cache directories of the tests' own: each links to the weights assembled once in
the user's cache, so the tests share no server, registry or log with the user's runs (or each other's)."""

from __future__ import annotations

from pathlib import Path

from mbre.llm.local.models import EMBEDDED_MODELS, LocalModelError, ensure_model_file


def assembled_models() -> list[Path]:
    """The weights of every installed embedded model, assembled in the current cache directory if needed;
    a model whose packages are missing is left out (its tests then fail with the install message)."""
    found = []
    for name in EMBEDDED_MODELS:
        try:
            found.append(ensure_model_file(name))
        except LocalModelError:
            continue
    return found


def private_cache(path: Path, models: list[Path]) -> Path:
    """`path` as a cache directory whose `models/` links to `models` and their verified-hash sidecars."""
    linked = path / "models"
    linked.mkdir(parents=True, exist_ok=True)
    for model in models:
        for file in (model, model.with_name(f"{model.name}.sha256")):
            if not (linked / file.name).exists():
                (linked / file.name).symlink_to(file)
    return path
