"""The ``livermets`` command: one sub-command per pipeline stage."""

from __future__ import annotations

import typer

from livermets import __version__
from livermets.cli import datasets as datasets_cli
from livermets.cli import deep as deep_cli
from livermets.cli import features as features_cli
from livermets.cli import params as params_cli
from livermets.cli import readers as readers_cli
from livermets.cli import report as report_cli
from livermets.cli import segment as segment_cli
from livermets.cli import stats as stats_cli
from livermets.cli import study as study_cli
from livermets.cli import synth as synth_cli
from livermets.cli._common import console, new_app
from livermets.cli.cohort import validate
from livermets.cli.demo import demo
from livermets.cli.docs import docs
from livermets.cli.lesions import lesions

app = new_app(
    "livermets: liver-lesion and liver-metastasis diagnosis studies in colorectal-cancer imaging."
)
app.command("demo")(demo)
synth_cli.register(app)
app.command("validate")(validate)
app.command("lesions")(lesions)
segment_cli.register(app)
features_cli.register(app)
app.add_typer(params_cli.app, name="params")
study_cli.register(app)
deep_cli.register(app)
app.add_typer(datasets_cli.app, name="datasets")
app.add_typer(report_cli.app, name="report")
readers_cli.register(app)
app.add_typer(stats_cli.app, name="stats")
app.command("docs")(docs)


def _version(value: bool) -> None:
    if value:
        console.print(f"livermets {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """livermets: from CT/MRI cohorts to validated liver-lesion diagnostic models."""


def main() -> None:
    """Entry point of the ``livermets`` console script."""
    app()
