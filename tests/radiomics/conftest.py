"""Fixtures of the radiomics tests: a CLI app with the features command, small cohorts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.features import register
from tests.helpers import make_patient

CLI_SCRIPT = """
import sys
from livermets.cli._common import new_app
from livermets.cli.features import register

app = new_app("features test app")
register(app)


@app.command("version")
def version() -> None:
    # a second command, so that typer keeps 'features' as a sub-command
    return None


app(sys.argv[1:])
"""


@pytest.fixture
def features_cli():
    """Invoke ``features`` in-process; returns (exit code, output)."""
    app = new_app("features test app")
    register(app)

    @app.command("version")
    def version() -> None:
        """A second command so that ``features`` stays a sub-command."""

    runner = CliRunner()

    def invoke(*args: object) -> tuple[int, str]:
        result = runner.invoke(app, ["features", *[str(a) for a in args]])
        return result.exit_code, result.output

    return invoke


@pytest.fixture
def cli_script(tmp_path) -> Path:
    """A script that runs the features command in a separate process."""
    path = tmp_path / "features_cli.py"
    path.write_text(CLI_SCRIPT)
    return path


def write_cohort(root: Path, n: int, lesions=((6, 32, 24, 6.0), (6, 30, 38, 4.0))) -> Path:
    """A cohort of n tiny patients with the given lesions; returns the manifest path."""
    rows = [make_patient(root, f"p{i}", lesions=lesions) for i in range(1, n + 1)]
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
