"""A whole study as ``livermets study run`` runs it: the analysis (``livermets.study``), then
its report (``livermets.report``) and optional MLflow tracking.

This module sits above both stages, so neither imports the other's way: the study computes and
saves typed results, the report draws them (also later, from the folder: ``livermets report
study DIR``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livermets._atomic import write_text
from livermets.report import Report
from livermets.report.study import add_study_sections, study_title
from livermets.study.config import StudyConfig
from livermets.study.runner import Progress, StudyResult, analyse_study, write_metrics


def run_study(
    config: StudyConfig | str | Path,
    out: str | Path,
    workers: int | None = None,
    progress: Progress = False,
    on_stage: Callable[[str], None] | None = None,
    report: Report | None = None,
    scheduler: Any = None,
) -> StudyResult:
    """Run a whole study into ``out``: analysis, ``report.html`` (or sections added to
    ``report``, which the caller then writes) and tracking; ``scheduler`` (address or Client)
    overrides the config's."""
    result = analyse_study(config, out, workers, progress, on_stage, scheduler)
    if on_stage is not None:
        on_stage("report")
    start = time.perf_counter()
    own = report is None
    document = report if report is not None else Report(study_title(result),
                                                         result.config.synthetic)
    tables = add_study_sections(document, result)
    if tables:  # the report's numeric tables (ORs, Cox, calibration, decision curves, ...)
        result.metrics["tables"] = {name: df.to_dict(orient="records")
                                    for name, df in tables.items()}
        write_metrics(result.out, result.metrics)
    if own:
        document.write(result.out / "report.html")
    result.timings["report"] = round(time.perf_counter() - start, 2)
    if result.config.tracking == "mlflow":
        from livermets.study.tracking import log_mlflow

        result = dataclasses.replace(result, tracking_run=log_mlflow(result))
    write_text(result.out / "timings.json", json.dumps(result.timings, indent=2))
    return result
