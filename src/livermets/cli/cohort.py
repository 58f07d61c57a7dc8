"""``livermets validate``: check a cohort manifest, its files and their geometry."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from livermets.cli._common import console, print_json
from livermets.cli._progress import patient_progress
from livermets.cohort import load_manifest, validate_cohort
from livermets.cohort.validate import ValidationReport, ValidationSettings


def validate(
    manifest: Path = typer.Argument(..., help="Cohort manifest CSV."),
    resample_masks: bool = typer.Option(
        False, "--resample-masks", help="Resample masks off the image grid (nearest neighbour)."
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Comma-separated allowed label / lesion-class values."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Check a manifest, its files and geometry; exit 0 clean, 1 problems found, 2 unusable."""
    cohort = load_manifest(manifest)
    allowed = frozenset(v.strip() for v in labels.split(",") if v.strip()) if labels else None
    settings = ValidationSettings(resample_masks=resample_masks, allowed_labels=allowed)
    rows = cohort.rows()
    with patient_progress(len(rows), "validating") as advance:
        report = validate_cohort(cohort, settings, progress=advance, rows=rows)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report, manifest)
    raise typer.Exit(code=0 if report.ok else 1)


def _print_report(report: ValidationReport, manifest: Path) -> None:
    if not report.problems:
        console.print(f"[green]OK[/]: {report.n_patients} patients in {manifest}, no problems.")
        return
    table = Table(title=f"Problems in {manifest}", show_lines=False)
    for column in ("patient", "column", "problem", "severity", "message"):
        table.add_column(column, overflow="fold")
    for p in report.problems:
        colour = "red" if p.severity == "error" else "yellow"
        table.add_row(p.patient_id, p.column, p.code, f"[{colour}]{p.severity}[/]", p.message)
    console.print(table)
    n_err = len(report.errors)
    n_warn = len(report.problems) - n_err
    verdict = "[red]FAILED[/]" if n_err else "[green]OK[/]"
    console.print(f"{verdict}: {report.n_patients} patients, {n_err} errors, {n_warn} warnings.")
