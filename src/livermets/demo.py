"""The built-in demo: a synthetic cohort run through every stage that exists, into one report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from livermets._atomic import write_text
from livermets._progress import PatientBars, callback_or_none
from livermets.cohort import load_manifest, validate_cohort
from livermets.errors import DataError
from livermets.lesions import LesionSettings, build_lesion_tables
from livermets.pipeline import run_study
from livermets.report import Report, add_cohort_sections
from livermets.study.demo import demo_config
from livermets.synth import generate_cohort, make_config

DEMO_TASK = "crlm-vs-hemangioma"


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and how long each stage took."""

    out: Path
    report: Path
    manifest: Path
    n_patients: int
    n_lesions: int
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(
    out: str | Path,
    patients: int = 40,
    seed: int = 0,
    workers: int | None = None,
    progress: PatientBars | None = None,
    on_stage: Callable[[str], None] | None = None,
    segment: bool = False,
    cnn: bool = True,
) -> DemoResult:
    """Generate the demo cohort, validate it, measure lesions and write ``out/report.html``.

    ``progress(total, description)`` opens a progress display over the synthetic cohort's
    patients (the CLI's bar; None: silent), ``on_stage(name)`` is told each stage as it starts.
    """
    progress = callback_or_none(progress, "run_demo")
    out = Path(out)
    timings: dict[str, float] = {}

    def stage(name: str) -> Callable[[], None]:
        if on_stage is not None:
            on_stage(name)
        start = time.perf_counter()
        return lambda: timings.__setitem__(name, round(time.perf_counter() - start, 2))

    done = stage("synthetic cohort")
    config = make_config(DEMO_TASK, patients, seed, centres=2)
    bars = progress(patients, f"synth {DEMO_TASK}") if progress is not None else nullcontext()
    with bars as advance:
        cohort = generate_cohort(config, out / "cohort", workers=workers, progress=advance)
    done()

    done = stage("validation")
    manifest = load_manifest(cohort.manifest)
    validation = validate_cohort(manifest)
    if not validation.ok:
        first = validation.errors[0]
        raise DataError(
            f"the generated demo cohort failed validation ({len(validation.errors)} errors; "
            f"first: {first.patient_id} {first.code}: {first.message})."
        )
    done()

    done = stage("lesions and cohort report")
    lesions, patient_table = build_lesion_tables(manifest, LesionSettings())
    report = Report(f"livermets demo: {DEMO_TASK} ({patients} synthetic patients)", True)
    add_cohort_sections(report, manifest, lesions, patient_table, out)
    done()

    if segment:
        done = stage("segmentation and QA")
        from livermets.demo_segment import ITERATIONS, TRAIN_CENTRE, run_demo_segmentation
        from livermets.report.segmentation import add_demo_segmentation_sections

        qa = run_demo_segmentation(manifest, out / "segmentation", seed=seed)
        add_demo_segmentation_sections(report, qa, out / "segmentation", iterations=ITERATIONS,
                                       train_centre=TRAIN_CENTRE)
        done()

    done = stage("radiomics and model comparison")
    n_workers = workers or 2  # the study's outputs under out/study, its sections in the report
    run_study(demo_config(cohort.manifest, seed, n_workers), out / "study", workers=n_workers,
              report=report)
    done()

    if cnn:
        done = stage("CNN on lesion crops")
        from livermets.deep.demo import run_demo_cnn
        from livermets.report.deep import add_demo_cnn_sections

        cnn_result = run_demo_cnn(cohort.manifest, out / "study", seed=seed,
                                  workers=workers or 2)
        add_demo_cnn_sections(report, cnn_result)
        done()
    report_path = report.write(out / "report.html")
    write_text(out / "timings.json", json.dumps(timings, indent=2))
    return DemoResult(out, report_path, cohort.manifest, len(patient_table), len(lesions), timings)
