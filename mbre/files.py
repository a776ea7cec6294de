"""What mbre writes reaches the disk whole, and its own words without secrets.

Every file mbre writes goes through here: a record is appended as one complete line or not at all, a whole
file is replaced atomically, and a write that fails (full disk, no permission, read-only file system) is
one `StorageError` that names the path. The writers store bytes exactly as given: a sentence, an entity, a
definition or a model's answer that happens to contain the API key is the user's data and is never
rewritten (masking it would shift every character offset after it). The text mbre composes itself (error
and failure messages, traces, logs, the settings and command line of a manifest) is passed through `mask`
or `mask_urls` by its writer, so no such text can hold the secrets this process has read (API keys, the
credentials of an endpoint's URL), whatever a provider echoes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path

from mbre.errors import StorageError

#: What a masked secret reads as.
MASK = "***"
#: Shorter values are not masked: placeholders such as "EMPTY" or "local" are not secrets, and masking a
#: few characters everywhere would garble the text around them.
MIN_SECRET_LENGTH = 8

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")
_URL_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&](?:api[-_]?key|key|token|access[-_]?token|secret|password|sig|signature)=)[^&\s'\"]+",
    flags=re.IGNORECASE,
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secret(value: str) -> None:
    """Mask `value` in every message this process composes from now on (an API key, as soon as it is
    read)."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def mask(text: str) -> str:
    """`text` without the remembered secrets."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a key that contains another goes first
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def mask_urls(text: str) -> str:
    """A setting or a command line without secrets, nor any `user:password@` in its URLs or secret-looking
    query parameters (`?api-key=...`): what a manifest or a report records of the user's configuration."""
    text = _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", mask(text))
    return _URL_SECRET_PARAMETER.sub(rf"\g<name>{MASK}", text)


def ensure_dir(path: str | Path) -> Path:
    """Create the directory (and its parents) if needed; a path that is a file, or a folder that cannot be
    created, is a `StorageError` naming it."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise StorageError(f"{directory} is a file, not a directory: choose another path")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError.cannot_write(directory, exc) from exc
    return directory


def append_line(path: str | Path, text: str) -> None:
    """Append `text` and a newline as one `write` on an O_APPEND descriptor, so concurrent or
    killed writers never interleave or tear a line inside the file. A write the disk cannot take is cut
    back off, so the file never keeps half a line."""
    data = (text + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError.cannot_write(path, exc) from exc
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            with contextlib.suppress(OSError):  # else the torn line is cut when the run resumes
                os.ftruncate(fd, start)
            raise StorageError.cannot_write(path, exc) from exc
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace the file at `path` with `data` in one step: written to a temporary file
    beside it, flushed to the disk, then renamed over it. A reader, or a crash, sees the old file or the
    new one, never a part."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temporary: str | None = None
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)  # as any other file mbre writes, not mkstemp's 0600
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
        temporary = None
    except OSError as exc:
        raise StorageError.cannot_write(target, exc) from exc
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return target
