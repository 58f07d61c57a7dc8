"""The command line: version, help on every command, user errors without traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from livermets import __version__

COMMANDS = [
    [], ["demo"], ["synth"], ["validate"], ["lesions"], ["datasets"], ["datasets", "ircadb"],
    ["report"], ["report", "cohort"], ["params"], ["params", "convert"], ["stats"],
    ["stats", "roc"], ["stats", "delong"],
    ["stats", "threshold"], ["stats", "calibration"], ["stats", "dca"], ["stats", "cindex"],
    ["stats", "km"], ["stats", "mrmc"],
]  # fmt: skip


def test_version(cli):
    code, output = cli("--version")
    assert code == 0 and output.strip() == f"livermets {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help(cli, command):
    code, output = cli(*command, "--help")
    assert code == 0 and "Usage" in output


def test_console_script_prints_error_without_traceback(tmp_path):
    exe = Path(sys.executable).with_name("livermets")
    result = subprocess.run(
        [str(exe), "validate", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
