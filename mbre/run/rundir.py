"""The run directory: what makes a long `mbre discover` resumable and its results impossible to lose.

    runs/x/manifest.json     what produced the results (settings, hashes of schema, grouping, prompts, input)
    runs/x/samples.jsonl     one sample per finished sentence, append-only
    runs/x/failures.jsonl    one line per failed attempt at a sentence, append-only
    runs/x/quarantine.jsonl  the input lines refused on this invocation, with line and reason
    runs/x/timing.jsonl      one line per invocation: sentences decided, wall seconds, calls, cache hits
    runs/x/run.lock          held by the process writing the directory (see `mbre.run.lock`)
    runs/x/relations.json    the schema, seeds and thresholds the run was given (see `mbre.run.inputs`)

The samples file is the record of finished ids: a sentence is finished exactly when its sample line is
complete. Each line goes to the file in one `write` on an O_APPEND descriptor, so a killed process leaves
at most one torn last line in each file, which `open` (the next discover) cuts off (that sentence is asked
again, from the cache); a full disk leaves none (see `mbre.files`). Until then every reader takes a torn
last line as unfinished work (`read_records`): skipped, with one warning. The manifest is replaced
atomically, so it is whole or absent. Failure messages and quarantine reasons are mbre's own text and are
masked; the samples are the user's sentences and the model's answers, written exactly as they are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from mbre.errors import InputError, MbreError, StorageError
from mbre.files import append_line, ensure_dir, mask, write_atomic
from mbre.schemas.results import Sample

_log = logging.getLogger(__name__)
#: The start of a sample line as `discover` writes it: its id first.
_ID_FIRST = re.compile(rb'^\{"id": ("(?:[^"\\]|\\.)*"),')
#: How far back from a file's end `open` looks for the newline that ends its last whole line, per read.
_TAIL_BLOCK = 1 << 16
#: The user's files a run keeps, and their index (see `mbre.run.inputs`).
INPUTS_FILE, RELATIONS_FILE, SEEDS_FILE, THRESHOLDS_FILE = (
    "inputs.json",
    "relations.json",
    "seeds.jsonl",
    "thresholds.json",
)


class RunMismatchError(MbreError):
    """The run directory holds results of a different configuration."""


class Manifest(BaseModel):
    """What produced a run directory's results, checked again on every resume."""

    mbre_version: str
    created: str
    command: list[str]
    input_file: str
    input_sha256: str
    schema_hash: str
    grouping_hash: str
    prompt_hash: str
    demonstrations_hash: str = ""
    """sha256 of the examples the prompts could show (the schema's and the seeds')."""
    settings: dict[str, Any]
    settings_before: dict[str, Any] = Field(default_factory=dict, exclude=True)
    """Not written: for settings added in some version, the value that behaves as mbre did before. A run
    whose manifest lacks such a setting resumes under that value only."""

    def identity(self) -> dict[str, Any]:
        """Everything that must match for finished samples to be valid for this command, as JSON values
        (a tuple setting and the list it is read back as are the same)."""
        return json.loads(
            json.dumps(
                {
                    "input_sha256": self.input_sha256,
                    "schema_hash": self.schema_hash,
                    "grouping_hash": self.grouping_hash,
                    "prompt_hash": self.prompt_hash,
                    "demonstrations_hash": self.demonstrations_hash,
                    **{f"setting {k}": v for k, v in self.settings.items()},
                }
            )
        )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Timing(BaseModel):
    """One invocation's wall time, kept so that a resumed run still knows how long its sentences took."""

    time: str
    sentences: int
    seconds: float
    calls: int
    cached_calls: int
    """Answers served from the LLM cache: their time is not the model's."""


class RunDir:
    """One run directory, opened for appending; see the module docstring for the files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest_file = self.path / "manifest.json"
        self.samples_file = self.path / "samples.jsonl"
        self.failures_file = self.path / "failures.jsonl"
        self.quarantine_file = self.path / "quarantine.jsonl"
        self.timing_file = self.path / "timing.jsonl"

    @property
    def result_files(self) -> tuple[Path, ...]:
        """The files a run writes, which `--fresh` moves aside together."""
        return (
            self.manifest_file,
            self.samples_file,
            self.failures_file,
            self.quarantine_file,
            self.timing_file,
            *(self.path / name for name in (INPUTS_FILE, RELATIONS_FILE, SEEDS_FILE, THRESHOLDS_FILE)),
        )

    def open(self, manifest: Manifest, *, fresh: bool = False) -> None:
        """Start the run or check that it resumes the same one, before any LLM call: a directory that
        cannot be written fails here, not after the first sentence. `fresh` moves earlier results aside
        (into `previous-<time>/`), a damaged manifest included, and never deletes them."""
        ensure_dir(self.path)
        self._check_writable()
        if fresh:
            self._move_aside()
        elif self.manifest_file.exists():
            self._check(self._read_manifest(), manifest)
            for file in self.record_files:
                _repair_last_line(file)
            return
        elif self.samples_file.exists() or self.failures_file.exists():
            raise RunMismatchError(
                f"{self.path} holds results but no manifest.json, so what made them is unknown: pass "
                "--fresh to move them aside and start over, or choose another --run-dir"
            )
        write_atomic(self.manifest_file, manifest.model_dump_json(indent=2) + "\n")
        self.quarantine_file.unlink(missing_ok=True)

    @property
    def record_files(self) -> tuple[Path, ...]:
        """The JSON Lines files, which a killed run may leave with a torn last line."""
        return (self.samples_file, self.failures_file, self.quarantine_file, self.timing_file)

    def samples(self) -> list[Sample]:
        """The finished samples, validated; a damaged line is an error that names it."""
        return read_samples(self.samples_file, allow_empty=True) if self.samples_file.exists() else []

    def finished_ids(self) -> set[str]:
        """The ids of the finished samples, read without decoding or validating each sample (a line as
        `discover` writes it starts with its id): a resume of a large run needs only these."""
        if not self.samples_file.exists():
            return set()
        doubles = _Doubles(self.samples_file)
        ids = set()
        for number, record, raw in read_records(self.samples_file, ids_only=True):
            if doubles.first(number, record, raw):
                ids.add(record["id"])
        doubles.warn()
        return ids

    def failures(self, finished: set[str] | None = None) -> dict[str, str]:
        """Sentence id -> last error, for sentences that failed and have not been labelled since (among
        `finished`, the finished ids when the caller has them already)."""
        if not self.failures_file.exists():
            return {}
        failed: dict[str, str] = {}
        for number, record, _ in read_records(self.failures_file):
            error = record.get("error")
            if not isinstance(error, str):
                raise InputError(
                    str(self.failures_file), "expected the error's text", line=number, field="error"
                )
            failed[_record_id(self.failures_file, number, record)] = error
        done = self.finished_ids() if finished is None else finished
        return {key: error for key, error in failed.items() if key not in done}

    def append_sample(self, sample: Sample) -> None:
        _append_record(self.samples_file, sample.model_dump(mode="json"))

    def append_failure(self, sentence_id: str, error: str) -> None:
        _append_record(self.failures_file, {"id": sentence_id, "error": mask(error), "time": _now()})

    def append_timing(self, sentences: int, seconds: float, calls: int, cached_calls: int) -> None:
        timing = Timing(
            time=_now(), sentences=sentences, seconds=seconds, calls=calls, cached_calls=cached_calls
        )
        _append_record(self.timing_file, timing.model_dump(mode="json"))

    def timings(self) -> list[Timing]:
        if not self.timing_file.exists():
            return []
        timings = []
        for number, record, _ in read_records(self.timing_file):
            try:
                timings.append(Timing.model_validate(record))
            except ValidationError as exc:
                raise InputError.from_validation(str(self.timing_file), exc, line=number) from exc
        return timings

    def quarantine(self, error: InputError) -> None:
        """Record one refused input line (`--on-bad-input skip`, or a sentence too long for the model)."""
        _append_record(
            self.quarantine_file,
            {"file": error.source, "line": error.line, "field": error.field, "reason": mask(error.reason)},
        )

    def _read_manifest(self) -> Manifest:
        try:
            return Manifest.model_validate_json(self.manifest_file.read_bytes())
        except OSError as exc:
            raise InputError(str(self.manifest_file), f"cannot read the file: {exc.strerror}") from exc
        except ValidationError as exc:
            raise InputError(
                str(self.manifest_file),
                f"not an mbre manifest ({exc.errors()[0]['msg']}): pass --fresh to move it and the results "
                "beside it aside and start over",
            ) from exc

    def _check_writable(self) -> None:
        """A run directory, and every file in it that a run appends to, must take writes."""
        try:
            fd, probe = tempfile.mkstemp(dir=self.path, prefix=".write-test.")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageError.cannot_write(self.path, exc) from exc
        for file in self.result_files:
            if file.exists() and not os.access(file, os.W_OK):
                raise StorageError(f"cannot write {file}: permission denied")

    def _check(self, previous: Manifest, manifest: Manifest) -> None:
        old, new = previous.identity(), manifest.identity()
        before = json.loads(json.dumps({f"setting {k}": v for k, v in manifest.settings_before.items()}))
        old = before | old
        changed = [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in new if old.get(key) != new[key]]
        if changed:
            raise RunMismatchError(
                f"{self.path} holds results made differently ({'; '.join(changed)}). Resume with the "
                "original settings, choose another --run-dir, or pass --fresh to start over (earlier "
                "results are moved aside, not deleted)"
            )

    def _move_aside(self) -> None:
        earlier = [file for file in self.result_files if file.exists()]
        if not earlier:
            return
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        for number in itertools.count():  # two --fresh within a second get two folders
            attic = self.path / (f"previous-{stamp}" + (f"-{number}" if number else ""))
            try:
                attic.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise StorageError.cannot_write(attic, exc) from exc
        for file in earlier:
            try:
                file.rename(attic / file.name)
            except OSError as exc:
                raise StorageError.cannot_write(attic / file.name, exc) from exc


def samples_path(path: Path) -> Path:
    """The samples file of a run directory, or the path itself when it names a samples file."""
    return RunDir(path).samples_file if path.is_dir() else path


def read_records(path: Path, *, ids_only: bool = False) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """(line number, record, the line's bytes) of each line of a run directory's JSON Lines file,
    streamed: a run of 50,000 samples is never held as one string. A last line without its newline that
    is not JSON is a record a stopped process left unfinished: it is skipped with one warning, and the
    next discover of the run cuts it off (`RunDir.open`). Any other line that is not a JSON object is an
    `InputError` naming it. `ids_only`: a whole line that starts with its id, as mbre writes them, yields
    just `{"id": ...}`, undecoded beyond it."""
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            whole = raw.endswith(b"\n")
            prefix = _ID_FIRST.match(raw) if ids_only and whole and raw.rstrip().endswith(b"}") else None
            try:
                record = {"id": _id_of(prefix[1])} if prefix else json.loads(raw)
            except UnicodeDecodeError as exc:
                if not whole:
                    _warn_torn(source, number)
                    return
                raise InputError(source, f"not UTF-8: {exc.reason} at byte {exc.start}", line=number) from exc
            except json.JSONDecodeError as exc:
                if not whole:
                    _warn_torn(source, number)
                    return
                raise InputError(
                    source, f"not valid JSON: {exc.msg} (column {exc.colno})", line=number
                ) from exc
            if not isinstance(record, dict):
                raise InputError(source, "expected a JSON object", line=number)
            yield number, record, raw


def _id_of(quoted: bytes) -> str:
    """A JSON string's value: without escapes, its bytes as they are (most ids; the cheap path of a large
    resume), else decoded as JSON."""
    return quoted[1:-1].decode("utf-8") if b"\\" not in quoted else json.loads(quoted)


class _Doubles:
    """Each id of a samples file once. A line that repeats an earlier one is the same sample written
    twice (a copied file, a merge by hand): it is read once, and `warn` says so once. Two different
    records for one id are an `InputError` naming both lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, tuple[int, bytes]] = {}
        self.doubled: list[tuple[str, int, int]] = []

    def first(self, number: int, record: dict[str, Any], raw: bytes) -> bool:
        """Whether this is the first record of its id (False: a double, to skip)."""
        key = _record_id(self.path, number, record)
        digest = hashlib.blake2b(raw.strip(), digest_size=16).digest()
        if key not in self.seen:
            self.seen[key] = (number, digest)
            return True
        line, seen = self.seen[key]
        if seen != digest and _decoded_line(self.path, line) != _decoded_line(self.path, number):
            raise InputError(
                str(self.path),
                f"two different samples for id {key!r}, on lines {line} and {number}: keep the right one",
                line=number,
                field="id",
            )
        self.doubled.append((key, line, number))
        return False

    def warn(self) -> None:
        if self.doubled:
            key, line, number = self.doubled[0]
            _log.warning(
                "%s: %d lines repeat a sample already read (e.g. id %r on lines %d and %d): each sample is "
                "read once",
                self.path,
                len(self.doubled),
                key,
                line,
                number,
            )


def _decoded_line(path: Path, number: int) -> object:
    """Line `number` of the file, decoded: two spellings of one record (spacing, key order) are one."""
    with path.open("rb") as handle:
        return json.loads(next(itertools.islice(handle, number - 1, None)))


def read_samples(path: str | Path, *, allow_empty: bool = False) -> list[Sample]:
    """Discovered samples (JSON Lines, as `mbre discover` writes them), each id once (a doubled line is
    read once, two different samples for one id are refused); a bad line names its field."""
    source = Path(path)
    samples = []
    doubles = _Doubles(source)
    for number, record, raw in read_records(source):
        try:
            sample = Sample.model_validate(record)
        except ValidationError as exc:
            raise InputError.from_validation(str(source), exc, line=number) from exc
        if doubles.first(number, record, raw):
            samples.append(sample)
    doubles.warn()
    if not samples and not allow_empty:
        raise InputError(str(source), "no samples in the file")
    return samples


def _record_id(path: Path, number: int, record: dict[str, Any]) -> str:
    key = record.get("id")
    if not isinstance(key, str) or not key.strip():
        raise InputError(str(path), "expected the sentence's id", line=number, field="id")
    return key


def _warn_torn(source: str, number: int) -> None:
    _log.warning(
        "%s:%d: the last line is unfinished (a run was stopped while writing it) and is skipped; the next "
        "`mbre discover` of this run directory repairs it",
        source,
        number,
    )


def _repair_last_line(path: Path) -> None:
    """A process killed mid-write leaves a last line without its newline: cut it off (that sentence is not
    done), or, when it is a whole record that only lacks the newline (an edit by hand), end it. Only the
    file's tail is read."""
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError.cannot_write(path, exc) from exc
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        tail, start = b"", size
        while start > 0 and b"\n" not in tail:
            start = max(0, start - _TAIL_BLOCK)
            handle.seek(start)
            tail = handle.read(size - start)
        cut = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        handle.seek(cut)
        try:
            json.loads(handle.read())
        except ValueError:
            handle.truncate(cut)
        else:
            handle.seek(size)
            handle.write(b"\n")


def _append_record(path: Path, record: dict[str, Any]) -> None:
    """One complete line per record (see `mbre.files.append_line`)."""
    append_line(path, json.dumps(record, ensure_ascii=False))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
