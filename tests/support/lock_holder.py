"""Another process that holds a run directory's lock, as a second `mbre` on the same directory would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Holds the run directory's lock, says so, and sleeps until killed.
HOLDER = """
import sys, time
from mbre.run.lock import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def start_holder(run_dir: Path) -> subprocess.Popen[str]:
    """A process holding `run_dir`, once it does; kill it when done."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process
