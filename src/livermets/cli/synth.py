"""``livermets synth``: a synthetic cohort with known truth."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from livermets._outputs import check_output_folder
from livermets.cli._common import console, print_json
from livermets.cli._progress import quiet_or_patient_progress
from livermets.errors import ConfigError
from livermets.synth import TASK_NAMES, generate_cohort, make_config
from livermets.synth.splits import parse_holdout, parse_split


def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the cohort into."),
    patients: int = typer.Option(40, "--patients", help="Number of patients (>= 1)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same bytes."),
    task: str = typer.Option(
        "crlm-vs-hemangioma", "--task", help=f"Study task: {', '.join(TASK_NAMES)}."
    ),
    centres: int = typer.Option(
        2, "--centres", help="1 or 2 centres (2: scanner and protocol shift between A and B)."
    ),
    phases: str | None = typer.Option(
        None,
        "--phases",
        help="CT phases, comma-separated subset of nc,arterial,venous,delayed (must include "
        "venous); default: venous, or all four for multiphase-multiclass.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Parallel processes (default: one per CPU core)."
    ),
    scale: float = typer.Option(
        1.0, "--scale", help="Voxel-size factor: 2 doubles every voxel edge (quick, coarse runs)."
    ),
    split: str | None = typer.Option(
        None, "--split",
        help="Write a manifest `split` column, stratified by class and seeded: fractions "
        "(train=0.6,validation=0.2,test=0.2) or patients per class with the rest in train "
        "(validation=4+4,test=4+4).",
    ),
    holdout: str | None = typer.Option(
        None, "--holdout",
        help="Test patients per class, the rest train: 4+4 = --split test=4+4 (the origin "
        "study's 4 + 4 patient hold-out).",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Generate a synthetic cohort: images, masks, manifest, clinical table and truth tables."""
    check_output_folder(out)
    config = make_config(task, patients, seed, centres, phases, scale)
    if split is not None and holdout is not None:
        raise ConfigError("give --split or --holdout, not both (--holdout 4+4 is --split "
                          "test=4+4)")
    spec = parse_split(split) if split is not None else (
        parse_holdout(holdout) if holdout is not None else None)
    start = time.perf_counter()
    with quiet_or_patient_progress(json_output, config.patients, f"synth {config.task}"
                                   ) as advance:
        cohort = generate_cohort(config, out, workers=workers, progress=advance, split=spec)
    seconds = time.perf_counter() - start
    payload = {
        "out": str(cohort.root), "task": config.task, "patients": cohort.n_patients,
        "lesions": cohort.n_lesions, "seed": config.seed, "centres": config.centres,
        "phases": list(config.phases), "manifest": str(cohort.manifest),
        "split": spec.describe() if spec is not None else None,
        "truth": str(cohort.truth), "clinical": str(cohort.clinical), "seconds": round(seconds, 2),
    }
    if json_output:
        print_json(payload)
        return
    console.print(
        f"[bold]{config.task}[/]: {cohort.n_patients} patients, {cohort.n_lesions} lesions "
        f"in {seconds:.1f} s -> {cohort.manifest}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth)
