"""The `mbre` command's manners: its version, its commands in workflow order, and a near miss named for a
mistyped command, flag or setting."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from mbre.cli.app import WORKFLOW, app
from mbre.version import mbre_version
from tests.support.data import EXAMPLES

runner = CliRunner()


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mbre {mbre_version()}"


def test_help_lists_the_commands_in_workflow_order():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    listed = re.findall(r"^[│|]\s+([a-z]+)\s{2,}", result.output, flags=re.MULTILINE)
    assert listed == [name for name in WORKFLOW if name in listed]
    assert {"group", "plan", "discover", "view", "review", "calibrate", "export", "evaluate"} <= set(listed)
    assert listed.index("discover") < listed.index("view") < listed.index("export") < listed.index("evaluate")


def test_a_mistyped_command_gets_the_nearest_one():
    result = runner.invoke(app, ["discovr", "--help"])
    assert result.exit_code == 2
    assert "No such command 'discovr'. Did you mean 'discover'?" in result.output


def test_a_mistyped_flag_gets_the_nearest_one():
    result = runner.invoke(app, ["discover", "--relations", "r.json", "--treshold", "0.8"])
    assert result.exit_code == 2
    assert "No such option: --treshold" in result.output and "--threshold" in result.output


def test_a_mistyped_setting_gets_the_nearest_one(tmp_path):
    config = tmp_path / "mbre.toml"
    config.write_text('model = "local"\ntreshold = 0.8\n')
    args = ["discover", "--relations", str(EXAMPLES / "relations.json")]
    args += ["--input", str(EXAMPLES / "sentences.jsonl"), "--run-dir", str(tmp_path / "run")]
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 2
    assert "mbre.toml:2: field 'treshold': unknown setting; did you mean 'threshold' or" in result.output
    assert not (tmp_path / "run" / "samples.jsonl").exists()
