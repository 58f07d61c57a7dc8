"""``livermets demo``: the built-in synthetic study, end to end."""

from __future__ import annotations

from pathlib import Path

import typer

from livermets._outputs import check_output_folder
from livermets.cli._common import console, err_console, print_json
from livermets.cli._progress import patient_progress


def demo(
    out: Path = typer.Option(Path("results/demo"), "--out", help="Output folder."),
    patients: int = typer.Option(40, "--patients", help="Number of synthetic patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same results)."),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: all cores)."),
    cnn: bool | None = typer.Option(
        None, "--cnn/--no-cnn", help="Train the small CNN (DenseNet-121, 64 px) on lesion crops "
        "(default: when livermets[deep] is installed)."
    ),
    segment: bool = typer.Option(
        False, "--segment", help="Also train the MONAI segmenter and add the segmentation QA."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary (no progress)."),
) -> None:
    """Make the built-in synthetic cohort and run the whole study on it (DIR/report.html)."""
    from rich.markup import escape

    from livermets._extras import available, install_hint, require
    from livermets.demo import run_demo

    check_output_folder(out)
    if segment:
        require("deep", "--segment (the MONAI segmenter)")
    if cnn:
        require("deep", "--cnn (the lesion-crop CNN)")
    elif cnn is None:
        cnn = available("deep")
        if not cnn and not as_json:
            err_console.print("[bold]demo:[/] " + escape(
                "the CNN is skipped: livermets[deep] is not installed "
                f"({install_hint('deep')})"))

    result = run_demo(
        out,
        patients,
        seed,
        workers,
        progress=None if as_json else patient_progress,
        on_stage=None if as_json else lambda name: err_console.print(f"[bold]demo:[/] {name}"),
        segment=segment,
        cnn=cnn,
    )
    if as_json:
        print_json({"out": str(result.out), "report": str(result.report),
                    "manifest": str(result.manifest), "patients": result.n_patients,
                    "lesions": result.n_lesions, "timings_s": result.timings})
        return
    console.print(
        f"{result.n_patients} synthetic patients, {result.n_lesions} lesions; "
        f"report: {result.report}"
    )
    for name, seconds in result.timings.items():
        console.print(f"  {name:<28} {seconds:7.1f} s")
