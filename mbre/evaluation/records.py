"""What reproduces a report besides its settings: the command, the mbre version, the date and the sha256
of every input file, by role."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from mbre.files import mask_urls
from mbre.run.rundir import file_sha256
from mbre.version import mbre_version


class FileRecord(BaseModel):
    path: str
    sha256: str


class RunRecord(BaseModel):
    """What reproduces a report besides the settings: the command, the version, the input files."""

    command: list[str]
    mbre_version: str
    date: dt.datetime
    files: dict[str, FileRecord]
    """Role (gold, relations, train, ...) -> the file and its sha256."""


def run_record(files: Mapping[str, str | Path]) -> RunRecord:
    return RunRecord(
        command=[mask_urls(arg) for arg in sys.argv],
        mbre_version=mbre_version(),
        date=dt.datetime.now(dt.UTC).replace(microsecond=0),
        files={role: FileRecord(path=str(path), sha256=file_sha256(path)) for role, path in files.items()},
    )
