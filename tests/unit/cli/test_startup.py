"""Start-up cost: `import mbre` and `mbre --help` load none of the heavy libraries, which only the commands
that need them import (bench/startup.py times it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "sklearn",
    "matplotlib",
    "faiss",
    "langgraph",
    "langchain_openai",
    "datasets",
    "label_studio_sdk",
    "pyarrow",
)
#: Runs `mbre ARGS` in this process, then prints which heavy modules it loaded.
PROBE = """
import json, runpy, sys
sys.argv = ["mbre", *sys.argv[1:]]
try:
    runpy.run_module("mbre", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def loaded(code: str, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_mbre_loads_no_heavy_library():
    code = f"import json, sys, mbre; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    assert loaded(code) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["discover", "--help"],
        ["evaluate", "--help"],
        ["student", "--help"],
        ["view", "--help"],
        ["review", "export", "--help"],
        ["review", "import", "--help"],
        ["export", "--help"],
    ],
)
def test_help_loads_no_heavy_library(args):
    assert loaded(PROBE.format(heavy=repr(HEAVY)), *args) == []


def test_the_public_api_still_loads_on_use():
    code = (
        "import mbre; print(mbre.MbreContext.__name__, mbre.build_graph.__name__, mbre.__version__ != '', "
        "'build_graph' in dir(mbre))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["MbreContext", "build_graph", "True", "True"]
