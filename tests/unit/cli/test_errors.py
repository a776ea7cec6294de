"""The one error handler: an MbreError ends a command with one line and exit 2; anything else is a bug,
shown with its traceback, exit 1. Run as real processes, as a user or a script sees them."""

from __future__ import annotations

import subprocess
import sys

from tests.support.data import EXAMPLES

#: Runs the `mbre` app after replacing one internal function with `boom`, which raises `{error}`.
BROKEN = """
import sys
import mbre.inventory.grouping as grouping
from mbre.cli.app import app

def boom(*args, **kwargs):
    raise {error}("an internal bug")

grouping.group_relations = boom
app(sys.argv[1:], prog_name="mbre")
"""


def mbre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbre", *args], capture_output=True, text=True, timeout=120)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "relations.json"
    bad.write_text('[{"label": "a", "description": "x"}, {"label": "a", "description": "y"}]')
    result = mbre("group", "--relations", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}:1: field 'label': duplicate label 'a' (entry 2; first at entry 1)"
    ]


def test_a_bad_setting_is_one_line_and_exit_2():
    result = mbre("group", "--relations", str(EXAMPLES / "relations.json"), "--k", "99")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: the number of groups must be between 1 and 13, not 99"]


def test_an_internal_error_shows_its_traceback_and_exits_1():
    for error in ("RuntimeError", "ValueError"):  # a ValueError is a bug too, not the user's input
        code = BROKEN.format(error=error)
        result = subprocess.run(
            [sys.executable, "-c", code, "group", "--relations", str(EXAMPLES / "relations.json")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "Traceback" in result.stderr and f"{error}: an internal bug" in result.stderr
        assert "error:" not in result.stderr.splitlines()[0]
