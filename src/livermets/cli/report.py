"""``livermets report ...``: report sections on their own."""

from __future__ import annotations

from pathlib import Path

import typer

from livermets._outputs import check_output_folder
from livermets.cli._common import console, new_app, print_json
from livermets.cli._progress import patient_progress
from livermets.cohort import load_manifest
from livermets.lesions import LesionSettings
from livermets.report.build import cohort_report


def _written(out: Path, as_json: bool) -> None:
    """Say where the report and its tables are."""
    report, tables = out / "report.html", out / "tables"
    if as_json:
        print_json({"report": str(report), "tables": sorted(str(p) for p in tables.glob("*"))})
    else:
        console.print(f"report written: {report} (tables in {tables})")


app = new_app("Write report sections (self-contained HTML, tables as CSV, figures as PNG).")


@app.command("cohort")
def cohort(
    manifest: Path = typer.Argument(..., help="Cohort manifest CSV (validated)."),
    out: Path = typer.Option(..., "--out", help="Output folder for report.html and tables."),
    min_diameter: float = typer.Option(5.0, "--min-diameter", help="Smallest lesion kept (mm)."),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Mark the report as made from synthetic data."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
) -> None:
    """Table 1, size distribution and lesion gallery of a cohort, in DIR/report.html."""
    check_output_folder(out)
    n = len(load_manifest(manifest).table)
    with patient_progress(n, "cohort report") as advance:
        cohort_report(
            manifest,
            out,
            LesionSettings(min_diameter_mm=min_diameter),
            synthetic=synthetic,
            progress=advance,
        )
    _written(out, as_json)


@app.command("readers")
def readers(
    ratings: Path = typer.Argument(..., help="Ratings CSV from `livermets readers export`."),
    out: Path = typer.Option(..., "--out", help="Output folder for report.html and tables."),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Mark the report as made from synthetic data."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
) -> None:
    """Reader-study section: reader AUCs with / without AI, MRMC, size groups, reading times."""
    import pandas as pd

    from livermets.errors import InputFileError
    from livermets.report import Report
    from livermets.report.readers import add_reader_sections

    check_output_folder(out)
    if not ratings.is_file():
        raise InputFileError(f"ratings file {ratings} does not exist.")
    report = Report(f"livermets reader study: {ratings.stem}", synthetic)
    add_reader_sections(report, pd.read_csv(ratings), out)
    report.write(out / "report.html")
    _written(out, as_json)


@app.command("study")
def study(
    folder: Path = typer.Argument(..., help="A finished study folder (`livermets study run`)."),
    out: Path = typer.Option(None, "--out", help="Output folder for report.html and tables "
                             "(default: the study folder itself)."),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
) -> None:
    """Draw a finished study's report again from its saved tables and models (no refitting)."""
    from livermets.report.study import write_study_report
    from livermets.study.load import load_study

    target = out if out is not None else folder
    if out is not None:
        check_output_folder(out)
    result = load_study(folder)
    write_study_report(result, target / "report.html")
    _written(target, as_json)
