"""Shared fixtures."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.helpers import make_cohort


@pytest.fixture
def cohort(tmp_path):
    """A tiny valid two-patient cohort; returns the manifest path."""
    return make_cohort(tmp_path / "cohort")


@pytest.fixture
def cli():
    """Invoke the livermets CLI in-process; returns (exit code, output)."""
    from livermets.cli.main import app

    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, [str(a) for a in args])
        return result.exit_code, result.output

    return invoke
