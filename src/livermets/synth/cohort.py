"""Generate a whole synthetic cohort: one seeded child generator per patient, in parallel."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livermets._atomic import remove_stale_temporaries
from livermets._outputs import check_output_folder
from livermets._progress import PatientProgress, callback_or_none
from livermets.cohort.synthetic import write_synthetic_marker
from livermets.errors import ConfigError
from livermets.synth.config import SynthConfig, centre_of
from livermets.synth.splits import SplitSpec, assign_splits
from livermets.synth.writer import RECORD, read_record, write_cohort_tables, write_record

TRUTH_LEADING = [
    "patient_id", "lesion_label", "label", "diameter_mm", "size_group", "centre_x_mm",
    "centre_y_mm", "centre_z_mm", "center", "model", "subtype", "voxels",
]


@dataclass(frozen=True)
class Cohort:
    """Where a generated cohort's tables are."""

    root: Path
    manifest: Path
    truth: Path
    clinical: Path
    truth_patients: Path
    n_patients: int
    n_lesions: int


def patient_id(index: int) -> str:
    """The id of patient ``index`` (0-based): P0001, P0002, ..."""
    return f"P{index + 1:04d}"


def generate_patient(config: SynthConfig, index: int, seed: np.random.SeedSequence,
                     root: str) -> dict[str, Any]:
    """Generate and write one patient; return its manifest row, truth rows and patient truth."""
    from livermets.synth.render import render_patient

    out = Path(root)
    pid = patient_id(index)
    record_path = out / "patients" / pid / RECORD
    fingerprint = f"{config.fingerprint()}-{index}"
    stored = read_record(record_path, fingerprint, out)
    if stored is not None:
        return stored
    rng = np.random.default_rng(seed)
    centre = centre_of(index, config.patients, config.centres)
    record = render_patient(config, pid, centre, rng, out)
    record["fingerprint"] = fingerprint
    write_record(record_path, record)
    return record


def generate_cohort(config: SynthConfig, out: str | os.PathLike[str], workers: int | None = None,
                    progress: PatientProgress | None = None, split: SplitSpec | None = None
                    ) -> Cohort:
    """Generate the cohort of ``config`` into ``out``; same config and seed give the same bytes.

    ``progress(patient_id)`` is called as each patient is written (in the order they finish).

    With ``split`` the manifest gets a ``split`` column (``livermets.synth.splits``), drawn from
    the seed after the patients are made: the images do not depend on it.
    """
    progress = callback_or_none(progress, "generate_cohort")
    root = check_output_folder(out)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(root)  # left by a run killed mid-write
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    n_workers = min(workers or os.cpu_count() or 1, config.patients)
    seeds = np.random.SeedSequence(config.seed).spawn(config.patients)
    records: list[dict[str, Any] | None] = [None] * config.patients
    advance = progress if progress is not None else _silent
    if n_workers == 1:
        for i, seed in enumerate(seeds):
            records[i] = generate_patient(config, i, seed, str(root))
            advance(patient_id(i))
    else:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            futures = {pool.submit(generate_patient, config, i, seed, str(root)): i
                       for i, seed in enumerate(seeds)}
            try:
                for fut in as_completed(futures):
                    records[futures[fut]] = fut.result()
                    advance(patient_id(futures[fut]))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    cohort = _collect(root, [r for r in records if r is not None], split, config.seed)
    write_synthetic_marker(root, {"task": config.task, "seed": config.seed,
                                  "patients": config.patients})
    return cohort


def _collect(root: Path, records: list[dict[str, Any]], split: SplitSpec | None = None,
             seed: int = 0) -> Cohort:
    """Assemble and write the cohort tables from the per-patient records."""
    manifest = [dict(r["manifest"]) for r in records]
    truth = [row for r in records for row in r["truth"]]
    patients = [dict(r["patient"]) for r in records]
    if split is not None:
        frame = pd.DataFrame(manifest)[["patient_id", "label"]]
        for row, patient, value in zip(manifest, patients, assign_splits(frame, split, seed),
                                       strict=True):
            row["split"] = patient["split"] = value
    clinical_columns = list(records[0]["clinical_columns"])
    extra = sorted({k for row in truth for k in row} - set(TRUTH_LEADING))
    paths = write_cohort_tables(root, manifest, truth, patients, clinical_columns,
                                TRUTH_LEADING + extra)
    return Cohort(root, paths["manifest"], paths["truth"], paths["clinical"],
                  paths["truth_patients"], len(records), len(truth))


def _silent(_patient: str) -> None:
    """No progress reported."""
