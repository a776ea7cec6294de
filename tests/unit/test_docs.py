"""The README stays a front door (at most 250 lines) and true to the Makefile: the quick-start command it
shows is the one `make quickstart` runs, and `make test` is what CI runs."""

from __future__ import annotations

import re

from tests.support.data import ROOT

README = (ROOT / "README.md").read_text()


def test_the_readme_fits_the_first_hour():
    assert len(README.splitlines()) <= 250
    assert "make quickstart" in README and "make test" in README


def test_the_readme_shows_the_command_make_quickstart_runs():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^quickstart:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert recipe is not None
    command = " ".join(recipe.group(1).replace("\\\n", " ").replace("$(VENV)/bin/", "").split())
    assert command in " ".join(README.split())


def test_ci_runs_the_readme_test_command():
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
