"""Build the cohort report of a manifest: lesions, Table 1, figures, report.html."""

from __future__ import annotations

from pathlib import Path

from livermets._progress import PatientProgress
from livermets.cohort import load_manifest
from livermets.lesions import LesionSettings, build_lesion_tables
from livermets.report.cohort import add_cohort_sections
from livermets.report.document import Report


def cohort_report(
    manifest_path: str | Path,
    out: str | Path,
    settings: LesionSettings | None = None,
    synthetic: bool = False,
    progress: PatientProgress | None = None,
    title: str | None = None,
) -> Report:
    """Measure lesions and write ``out/report.html`` with the cohort sections and their tables."""
    out = Path(out)
    manifest = load_manifest(manifest_path)
    lesions, patients = build_lesion_tables(manifest, settings, progress=progress)
    report = Report(title or f"livermets cohort report: {manifest.path.parent.name}", synthetic)
    add_cohort_sections(report, manifest, lesions, patients, out)
    report.write(out / "report.html")
    return report
