"""The study report: every section of a finished study, from its ``StudyResult`` (in memory
after ``study run``, or read back from the folder by ``livermets.study.load.load_study``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from livermets.report.document import Report


def study_title(result: Any) -> str:
    """The report title of a study."""
    return result.config.title or f"livermets study: {result.config.name}"


def add_study_sections(report: Report, result: Any) -> dict[str, pd.DataFrame]:
    """Add the model (and multi-phase) sections of ``result``; returns the report's named
    tables (ORs, Cox, calibration, decision curves, ...), which the study also puts in
    metrics.json."""
    if result.config.models:
        from livermets.report.models import add_model_sections

        add_model_sections(report, result, result.out)
    if result.multiphase is not None:
        from livermets.report.multiphase import add_workflow_sections

        add_workflow_sections(report, result.multiphase, synthetic=result.config.synthetic)
    return report.named_tables()


def write_study_report(result: Any, path: str | Path | None = None) -> Path:
    """Write the whole study report (default ``OUT/report.html``) and its ``tables/``."""
    report = Report(study_title(result), result.config.synthetic)
    add_study_sections(report, result)
    return report.write(Path(path) if path is not None else result.out / "report.html")
