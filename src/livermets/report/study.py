"""The study report: every section of a finished study, from its ``StudyResult`` (in memory
after ``study run``, or read back from the folder by ``livermets.study.load.load_study``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from livermets.report.document import Report
from livermets.report.registry import draw_sections
from livermets.study.runner import StudyResult


def study_title(result: StudyResult) -> str:
    """The report title of a study."""
    return result.config.title or f"livermets study: {result.config.name}"


def add_study_sections(report: Report, result: StudyResult) -> dict[str, pd.DataFrame]:
    """Draw every registered study section (``report.sections``) that applies to ``result``,
    in order; returns the report's named tables (ORs, Cox, calibration, decision curves, ...),
    which the study also puts in metrics.json."""
    from livermets.report.sections import STUDY_SECTIONS

    draw_sections(report, STUDY_SECTIONS, result)
    return report.named_tables()


def write_study_report(result: StudyResult, path: str | Path | None = None) -> Path:
    """Write the whole study report (default ``OUT/report.html``) and its ``tables/``."""
    report = Report(study_title(result), result.config.synthetic)
    add_study_sections(report, result)
    return report.write(Path(path) if path is not None else result.out / "report.html")
