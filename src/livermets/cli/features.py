"""``livermets features``: radiomics per lesion / region, cached, parallel, optionally on Dask."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

from livermets._atomic import write_table
from livermets._outputs import check_output_file, check_output_folder
from livermets.cli._common import console, err_console, print_json
from livermets.cli._progress import progress_bars
from livermets.cohort import load_manifest
from livermets.errors import ConfigError

_ID_COLUMNS = {"volume_ml", "diameter_mm", "lesion_id", "n_lesions"}


def _progress_callback(progress: Progress, n_patients: int) -> Any:
    """A run-progress callback that drives two rich bars (patients loaded, regions done)."""
    patients = progress.add_task("loading patients", total=n_patients, note="")
    regions = progress.add_task("extracting", total=0, note="")
    state = {"lesions": 0, "start": time.perf_counter()}

    def update(event: str, info: dict[str, Any]) -> None:
        if event == "patient":
            progress.update(patients, advance=1)
            task = progress.tasks[regions]
            progress.update(regions, total=(task.total or 0) + info["n_tasks"])
        elif event == "done":
            state["lesions"] += int(info["lesion"])
            elapsed = time.perf_counter() - state["start"]
            rate = f"{state['lesions'] / elapsed:.2f} lesions/s" if elapsed > 0 else ""
            progress.update(regions, advance=1, note=rate)

    return update


def features(
    manifest: Path = typer.Argument(
        ..., help="Cohort manifest CSV (or a pyradiomics batch CSV: ID,Image,Mask[,Label])."
    ),
    params_file: str = typer.Option(
        ..., "--params", help="Radiomics parameter YAML (livermets' or pyradiomics' own), or a "
        "preset name such as pyradiomics-default (see `livermets docs radiomics`).",
    ),
    out: Path = typer.Option(..., "--out", help="Features table: .parquet or .csv."),
    level: str = typer.Option(
        "lesion", "--level", help="One row per 'lesion' or per 'patient' (aggregated lesions)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Local worker processes (default: compute.workers or all CPUs)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://HOST:PORT): run there instead."
    ),
    cache: Path | None = typer.Option(
        None, "--cache", help="Feature cache folder (default: <out>.cache beside the output)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Compute everything, store nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Extract radiomics features per lesion and region; a re-run computes only what is missing."""
    from livermets.radiomics.engines import get_engine
    from livermets.radiomics.params import resolve_params
    from livermets.radiomics.provenance import params_sidecar, write_feature_table
    from livermets.radiomics.runner import extract_cohort
    from livermets.radiomics.tables import error_table, feature_table

    check_output_file(out)
    cache_dir = None if no_cache else (cache or out.with_name(f"{out.stem}.cache"))
    if cache_dir is not None:
        check_output_folder(cache_dir, option="--cache")
    if level not in ("lesion", "patient"):
        raise ConfigError(f"--level must be 'lesion' or 'patient' (got '{level}').")
    params = resolve_params(params_file)
    cohort = load_manifest(manifest)
    scheduler = scheduler or params.compute.scheduler
    n_workers = workers if workers is not None else params.compute.workers or os.cpu_count() or 1
    if n_workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {n_workers}).")
    with progress_bars() as progress:
        callback = _progress_callback(progress, len(cohort.table))
        result = extract_cohort(
            cohort,
            params,
            cache_dir=cache_dir,
            workers=n_workers,
            scheduler=scheduler,
            progress=callback,
        )
    engine_version = get_engine(params.engine).version()
    table = feature_table(result, params, level, engine_version)
    errors = error_table(result)
    write_feature_table(table, out, params)
    errors_out = out.with_name(f"{out.stem}_errors{out.suffix}")
    write_table(errors, errors_out)
    stats = result.stats
    summary = {
        "rows": len(table),
        "level": level,
        "n_features": sum(
            1 for c in table.columns if c not in _ID_COLUMNS and table[c].dtype.kind == "f"
        ),
        "n_patients": stats.n_patients,
        "regions_computed": stats.n_regions_computed,
        "regions_cached": stats.n_regions_cached,
        "errors": int((errors["kind"] == "error").sum()),
        "texture_skipped": int((errors["kind"] == "texture_skipped").sum()),
        "worker_restarts": stats.worker_restarts,
        "cache_repairs": stats.cache_repairs,
        "seconds": round(stats.seconds, 3),
        "lesions_per_s": round(stats.lesions_per_second, 3),
        "engine": engine_version,
        "params_hash": params.params_hash(),
        "features": str(out),
        "params_file": str(params_sidecar(out)),
        "errors_table": str(errors_out),
        "cache": str(cache_dir) if cache_dir else None,
    }
    for note in stats.cache_repairs:
        err_console.print(f"[yellow]warning: {note}[/]", highlight=False)
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{summary['rows']} {level} rows x {summary['n_features']} features -> {out} "
        f"({stats.n_regions_computed} regions computed, {stats.n_regions_cached} from cache, "
        f"{stats.lesions_per_second:.2f} lesions/s)"
    )
    if summary["errors"] or summary["texture_skipped"]:
        err_console.print(
            f"[yellow]{summary['errors']} region(s) failed, {summary['texture_skipped']} without "
            f"texture features: see {errors_out}[/]"
        )


def register(app: typer.Typer) -> None:
    """Add the ``features`` command to a livermets typer app."""
    app.command("features")(features)
