"""``livermets datasets ...``: public datasets into validated cohorts."""

from __future__ import annotations

from pathlib import Path

import typer

from livermets._outputs import check_output_folder
from livermets.cli._common import console, new_app, print_json
from livermets.cli._progress import patient_progress
from livermets.datasets import convert_ircadb
from livermets.datasets.ircadb import LICENCE_NOTE, find_patients
from livermets.errors import ConfigError

app = new_app("Convert public datasets into livermets cohorts.")


@app.command("ircadb")
def ircadb(
    src: Path = typer.Argument(..., help="Folder holding the 3Dircadb1.N patient folders."),
    out: Path = typer.Option(..., "--out", help="Output cohort folder."),
    patients: str | None = typer.Option(
        None, "--patients", help="Comma-separated patient numbers (default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """3D-IRCADb-01 into NIfTI images, liver and lesion masks, lesion classes and a manifest."""
    check_output_folder(out)
    try:
        numbers = [int(v) for v in patients.split(",")] if patients else None
    except ValueError as exc:
        raise ConfigError(f"--patients '{patients}' must be numbers such as 1,7,17.") from exc
    total = len(numbers) if numbers else len(find_patients(src))
    with patient_progress(total, "converting 3D-IRCADb-01") as advance:
        manifest = convert_ircadb(src, out, numbers, progress=advance)
    if as_json:
        print_json({"manifest": str(manifest), "out": str(out), "patients": total,
                    "licence": LICENCE_NOTE})
        return
    console.print(f"cohort written: {manifest}\n[dim]{LICENCE_NOTE}[/]")
