"""Radiomics speed: livermets (1, 2 workers, 2-worker Dask) against the naive pyradiomics loop.

The naive loop is what a user writes: ``RadiomicsFeatureExtractor().execute(image_path,
mask_path)`` per lesion, on the full CT, with one mask file per lesion. livermets reads each CT
once, crops each lesion (plus the margin its filters need) and spreads lesions over workers.
Both use pyradiomics' defaults (107 original features); values must agree to 1e-6.

    .venv/bin/python benchmarks/radiomics_speed.py --work /tmp/radiomics-bench [--cores 0,1]
        [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import SimpleITK as sitk

from livermets.cohort import load_manifest
from livermets.datasets import convert_ircadb
from livermets.lesions import axial_diameter, split_instances
from livermets.radiomics import preset_params
from livermets.radiomics.runner import extract_cohort
from livermets.radiomics.tables import feature_table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


class PeakMemory:
    """Peak resident memory (MiB) of this process and its children, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total / 2**20)
            time.sleep(0.02)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def lesion_masks(manifest: Path, folder: Path, min_diameter: float = 5.0) -> list[tuple]:
    """One binary mask file per lesion instance (as a user would have), same ids as livermets."""
    out = []
    for row in load_manifest(manifest).rows():
        mask = sitk.ReadImage(str(row.masks["lesion_mask"]))
        labels = sitk.GetArrayFromImage(mask)
        instance_map, instances = split_instances(labels, 26)
        lesion_id = 0
        for inst in instances:
            diameter, _ = axial_diameter(inst.crop(instance_map) == inst.instance,
                                         mask.GetSpacing())  # fmt: skip
            if diameter < min_diameter:
                continue
            lesion_id += 1
            binary = sitk.GetImageFromArray((instance_map == inst.instance).astype(np.uint8))
            binary.CopyInformation(mask)
            path = folder / f"{row.patient_id}_lesion{lesion_id}.nii.gz"
            sitk.WriteImage(binary, str(path))
            out.append((row.patient_id, lesion_id, row.image, path))
    return out


def naive(masks: list[tuple]) -> tuple[pd.DataFrame, float]:
    """The naive loop; returns its features and seconds."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    rows = []
    start = time.perf_counter()
    for patient, lesion_id, image, mask in masks:
        extractor = RadiomicsFeatureExtractor()
        result = extractor.execute(str(image), str(mask))
        feats = {k: float(v) for k, v in result.items() if not k.startswith("diagnostics")}
        rows.append({"patient_id": patient, "lesion_id": lesion_id, **feats})
    return pd.DataFrame(rows), time.perf_counter() - start


def livermets_run(manifest: Path, workers: int = 1, scheduler: object = None) -> tuple:
    """livermets on the cohort (no cache: every lesion computed); returns table and seconds."""
    params = preset_params("pyradiomics-default")
    start = time.perf_counter()
    result = extract_cohort(load_manifest(manifest), params, workers=workers,
                            scheduler=scheduler)  # fmt: skip
    seconds = time.perf_counter() - start
    return feature_table(result, params, "lesion", "bench"), seconds


def max_difference(reference: pd.DataFrame, table: pd.DataFrame) -> float:
    """Largest relative difference over every feature of every lesion."""
    merged = reference.merge(table, on=["patient_id", "lesion_id"], suffixes=("", "_lm"))
    worst = 0.0
    for column in reference.columns:
        if not column.startswith("original_"):
            continue
        a = merged[column].to_numpy(float)
        b = merged[f"{column}_lm"].to_numpy(float)
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12))))
    return worst


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="Working folder (kept).")
    parser.add_argument("--cores", default=None, help="Pin to these CPU ids, e.g. 0,1.")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per row (median shown).")
    args = parser.parse_args()
    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    work = args.work or Path(tempfile.mkdtemp(prefix="radiomics-bench-"))
    cohort = work / "ircadb"
    if not (cohort / "manifest.csv").is_file():
        convert_ircadb(SHARED / "ircadb", cohort, patients=[1, 17])
    manifest = cohort / "manifest.csv"
    masks_dir = work / "naive_masks"
    shutil.rmtree(masks_dir, ignore_errors=True)
    masks_dir.mkdir(parents=True)
    masks = lesion_masks(manifest, masks_dir)
    n = len(masks)
    rows = []
    reference = None
    def repeated(run: object) -> tuple[object, float, float]:
        """Median seconds and peak memory over ``--repeats`` runs of ``run()``."""
        times, peaks = [], []
        for _ in range(max(args.repeats, 1)):
            with PeakMemory() as mem:
                table, seconds = run()  # type: ignore[operator]
            times.append(seconds)
            peaks.append(mem.peak)
        return table, float(np.median(times)), float(max(peaks))

    if not args.skip_naive:
        reference, seconds, peak = repeated(lambda: naive(masks))
        rows.append(("naive pyradiomics loop", seconds, peak, 0.0))
    for workers in (1, 2):
        table, seconds, peak = repeated(lambda w=workers: livermets_run(manifest, w))
        diff = max_difference(reference, table) if reference is not None else float("nan")
        rows.append((f"livermets --workers {workers}", seconds, peak, diff))
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        table, seconds, peak = repeated(lambda: livermets_run(manifest, scheduler=client))
        diff = max_difference(reference, table) if reference is not None else float("nan")
        rows.append(("livermets on Dask (2 workers)", seconds, peak, diff))
    cpus = len(os.sched_getaffinity(0))
    print(f"\nIRCADb patients 1 and 17: {n} lesions, 107 original features, {cpus} CPUs, "
          f"median of {args.repeats} runs\n")
    print("| run | seconds | lesions/s | x naive | peak RSS (MiB) | max rel. diff vs naive |")
    print("|---|---|---|---|---|---|")
    base = n / rows[0][1] if not args.skip_naive else None
    for name, seconds, peak, diff in rows:
        rate = n / seconds
        ratio = f"{rate / base:.1f}" if base else "-"
        print(f"| {name} | {seconds:.2f} | {rate:.2f} | {ratio} | {peak:.0f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
