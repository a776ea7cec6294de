"""What mbre writes is whole and exact: lines appended whole or not at all, files replaced atomically,
failures as one error naming the path; keys and URL credentials masked in mbre's own text only."""

from __future__ import annotations

import errno
import os

import pytest

from mbre.errors import StorageError
from mbre.files import append_line, ensure_dir, mask, mask_urls, remember_secret, write_atomic


def test_remembered_secrets_are_masked_and_data_that_looks_like_one_is_not():
    remember_secret("sk-files-test-0123456789")
    remember_secret("short")  # placeholders such as "EMPTY" are no secrets
    text = "Incorrect API key provided: sk-files-test-0123456789; a short word stays"
    assert mask(text) == "Incorrect API key provided: ***; a short word stays"
    sentence = "Acme's old intranet was at http://jane:hunter22@intranet.acme.example/?token=t0k3n."
    assert mask(sentence) == sentence  # a sentence of the corpus is data, not a secret of this process


def test_settings_and_command_lines_lose_url_credentials():
    assert mask_urls("https://alice:s3cret-pw@api.example.com/v1") == "https://***@api.example.com/v1"
    assert mask_urls("https://example.com/v1?api-key=abc123&x=1") == "https://example.com/v1?api-key=***&x=1"
    assert mask_urls("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


def test_an_appended_line_and_a_replaced_file_hold_exactly_what_was_given(tmp_path):
    remember_secret("sk-appended-0123456789")
    path = tmp_path / "log.jsonl"
    append_line(path, '{"text": "a sentence that quotes sk-appended-0123456789"}')
    append_line(path, '{"n": 2}')
    assert path.read_text() == '{"text": "a sentence that quotes sk-appended-0123456789"}\n{"n": 2}\n'
    write_atomic(tmp_path / "page.html", "<p>sk-appended-0123456789</p>")
    assert (tmp_path / "page.html").read_text() == "<p>sk-appended-0123456789</p>"


def test_a_full_disk_leaves_no_half_line(tmp_path, monkeypatch):
    path = tmp_path / "samples.jsonl"
    append_line(path, '{"id": "a"}')
    real_write = os.write

    def full(fd, data):  # the disk takes 5 bytes, then is full
        if len(data) > 5:
            return real_write(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageError) as info:
        append_line(path, '{"id": "b", "text": "a long line"}')
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert path.read_text() == '{"id": "a"}\n'


def test_an_atomic_write_that_fails_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    write_atomic(path, "old\n")
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageError, match=f"cannot write {path}: No space left on device"):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_missing_folders_and_files_in_the_way_are_named(tmp_path):
    with pytest.raises(StorageError, match=f"cannot write {tmp_path}/missing/g.json: No such file"):
        write_atomic(tmp_path / "missing" / "g.json", "{}")
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match=f"{tmp_path}/file is a file, not a directory"):
        ensure_dir(tmp_path / "file")
    assert ensure_dir(tmp_path / "a" / "b").is_dir()
