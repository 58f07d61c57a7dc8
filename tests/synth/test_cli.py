"""The ``synth`` command on a throwaway app: JSON output, files, and user errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.synth import register

app = new_app("test app")
register(app)


@app.command("noop", hidden=True)
def _noop() -> None:
    """Keep the app a group so ``synth`` is addressed by name."""


runner = CliRunner()


def test_synth_writes_cohort_and_json(tmp_path: Path) -> None:
    """A tiny coarse run prints JSON and writes the manifest it names."""
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["synth", "--out", str(out), "--patients", "2", "--seed", "5",
                                 "--scale", "2.5", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["patients"] == 2
    assert payload["task"] == "crlm-vs-hemangioma"
    manifest = pd.read_csv(payload["manifest"])
    assert len(manifest) == 2
    assert payload["lesions"] == len(pd.read_csv(out / "truth.csv")) >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], "unknown synthetic task"),
        (["--patients", "0"], "--patients"),
        (["--phases", "arterial"], "must include venous"),
        (["--centres", "4"], "--centres"),
    ],
)
def test_synth_user_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """Bad options end with exit code 2 and a message, without a traceback."""
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
