"""``livermets synth``: a synthetic cohort with known truth."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from livermets._outputs import check_output_folder
from livermets.cli._common import console, print_json
from livermets.synth import TASK_NAMES, generate_cohort, make_config


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
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Generate a synthetic cohort: images, masks, manifest, clinical table and truth tables."""
    check_output_folder(out)
    config = make_config(task, patients, seed, centres, phases, scale)
    start = time.perf_counter()
    cohort = generate_cohort(config, out, workers=workers, progress=not json_output)
    seconds = time.perf_counter() - start
    payload = {
        "out": str(cohort.root), "task": config.task, "patients": cohort.n_patients,
        "lesions": cohort.n_lesions, "seed": config.seed, "centres": config.centres,
        "phases": list(config.phases), "manifest": str(cohort.manifest),
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
