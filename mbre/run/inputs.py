"""What a run was asked with, kept in its run directory, so that the commands reading a run need no flag:

    runs/x/relations.json   the relation schema, byte for byte as the user wrote it
    runs/x/seeds.jsonl      the seed sentences (`--seeds`), if given
    runs/x/thresholds.json  the per-relation thresholds (`--thresholds`), if given
    runs/x/inputs.json      where each came from, its sha256, the `--no-relation` given and the schema's hash

`discover` writes them once the run directory is opened (so they always describe its samples); `export`,
`review`, `calibrate`, `view` and `score` read the schema from here, and refuse a `--relations` whose hash is
not the run's. A run made before mbre kept them still works with `--relations`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from mbre.errors import InputError, SettingError
from mbre.files import write_atomic
from mbre.run.rundir import INPUTS_FILE, RELATIONS_FILE, SEEDS_FILE, THRESHOLDS_FILE, Manifest, RunDir
from mbre.schemas.relations import RelationSchema


@dataclass(frozen=True)
class GivenFiles:
    """The files a labelling command was given, to keep in its run directory."""

    relations: Path | None = None
    no_relation: str | None = None
    """`--no-relation`, which the schema file needs to mean what it meant."""
    seeds: Path | None = None
    thresholds: Path | None = None


class StoredFile(BaseModel):
    """One kept file: its name in the run directory, where the user's copy was, the sha256 of its bytes."""

    name: str
    source: str
    sha256: str


class RunInputs(BaseModel):
    """`inputs.json`: the index of the kept files."""

    relations: StoredFile
    no_relation: str | None = None
    schema_hash: str
    """The sha256 of the schema read from `relations` (with `no_relation`): the run's `schema_hash`."""
    seeds: StoredFile | None = None
    thresholds: StoredFile | None = None


def store_inputs(run: RunDir, schema: RelationSchema, given: GivenFiles | None = None) -> RunInputs:
    """Keep the schema, seeds and thresholds in the run directory. The schema file is kept as written when
    it still reads as `schema`; otherwise (a schema built in Python, a file changed since) as mbre's own
    JSON of it, which reads back to the same hash."""
    given = given or GivenFiles()
    target = run.path / RELATIONS_FILE
    relations, no_relation = _kept_schema(target, schema, given)
    inputs = RunInputs(
        relations=relations,
        no_relation=no_relation,
        schema_hash=schema.sha256,
        seeds=_copy(given.seeds, run.path / SEEDS_FILE),
        thresholds=_copy(given.thresholds, run.path / THRESHOLDS_FILE),
    )
    for name, kept in ((SEEDS_FILE, inputs.seeds), (THRESHOLDS_FILE, inputs.thresholds)):
        if kept is None:
            (run.path / name).unlink(missing_ok=True)  # not given this time: an older copy would mislead
    write_atomic(run.path / INPUTS_FILE, inputs.model_dump_json(indent=2) + "\n")
    return inputs


def _kept_schema(target: Path, schema: RelationSchema, given: GivenFiles) -> tuple[StoredFile, str | None]:
    """The kept schema file and the `--no-relation` it needs."""
    data = None if given.relations is None else _read(given.relations)
    if data is not None and _reads_as(write_atomic(target, data), schema, given.no_relation):
        return StoredFile(
            name=target.name, source=str(given.relations), sha256=_sha256(data)
        ), given.no_relation
    document = {"relations": [r.model_dump(mode="json") for r in schema.relations]}
    data = (json.dumps(document | {"no_relation": schema.no_relation_label}, indent=2) + "\n").encode()
    write_atomic(target, data)
    return StoredFile(name=target.name, source=schema.source, sha256=_sha256(data)), None


def _reads_as(path: Path, schema: RelationSchema, no_relation: str | None) -> bool:
    try:
        return RelationSchema.from_file(path, no_relation=no_relation).sha256 == schema.sha256
    except InputError:
        return False


def _copy(source: Path | None, target: Path) -> StoredFile | None:
    data = None if source is None else _read(source)
    if source is None or data is None:
        return None
    write_atomic(target, data)
    return StoredFile(name=target.name, source=str(source), sha256=_sha256(data))


def _read(path: Path) -> bytes | None:
    """The file's bytes; None when it cannot be read again (a pipe already consumed, a file since gone)."""
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_directory(run: Path) -> Path | None:
    """The run directory of `run` (a run directory, or the samples file inside one); None for a samples
    file elsewhere."""
    if run.is_dir():
        return run
    return run.parent if run.name == RunDir(run.parent).samples_file.name else None


def read_inputs(run: Path) -> RunInputs | None:
    """The run's `inputs.json`; None for a run made before mbre kept its inputs."""
    directory = run_directory(run)
    path = None if directory is None else directory / INPUTS_FILE
    if path is None or not path.exists():
        return None
    try:
        return RunInputs.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror}") from exc
    except ValidationError as exc:
        raise InputError.from_validation(str(path), exc) from exc


def run_schema_hash(run: Path) -> str | None:
    """The hash of the schema the run was labelled with, from its kept inputs or its manifest."""
    inputs = read_inputs(run)
    if inputs is not None:
        return inputs.schema_hash
    directory = run_directory(run)
    manifest = None if directory is None else RunDir(directory).manifest_file
    if manifest is None or not manifest.exists():
        return None
    try:
        return Manifest.model_validate_json(manifest.read_bytes()).schema_hash
    except (OSError, ValidationError):
        return None  # the resume check names a damaged manifest; a reader has nothing to compare with


def run_schema(
    run: Path, relations: Path | None = None, no_relation: str | None = None
) -> RelationSchema | None:
    """The schema of a command that reads a run: `--relations` when given (refused unless it is the one the
    run was labelled with), else the run's kept copy, else None (a run made before mbre kept it)."""
    if relations is not None:
        schema = RelationSchema.from_file(relations, no_relation=no_relation)
        expected = run_schema_hash(run)
        if expected is not None and schema.sha256 != expected:
            kept = (
                "leave --relations out to use the run's own" if read_inputs(run) else "pass the run's schema"
            )
            raise SettingError(
                f"--relations {relations} is not the schema {run} was labelled with (sha256 "
                f"{schema.sha256[:12]}, the run's {expected[:12]}): {kept}"
            )
        return schema
    inputs = read_inputs(run)
    directory = run_directory(run)
    if inputs is None or directory is None:
        return None
    return RelationSchema.from_file(directory / inputs.relations.name, no_relation=inputs.no_relation)


def require_run_schema(
    run: Path, relations: Path | None = None, no_relation: str | None = None
) -> RelationSchema:
    """`run_schema` for a command that cannot work without one."""
    schema = run_schema(run, relations, no_relation)
    if schema is None:
        raise SettingError(
            f"{run} does not hold its relation schema (it was made before mbre kept it): pass --relations"
        )
    return schema
