"""What LoG + wavelet filters cost: one synthetic lesion, seed-ct-liver-original vs seed-ct-liver.

A one-patient synthetic crc-vs-pdac cohort is made, its lesion mask cut down to one lesion (the
largest), and both presets extract that lesion (+ 5 mm ring) with livermets' own pipeline, no
cache, after one warm-up run, the two presets taking turns; the median of ``--repeats`` runs of
each is printed with the ratio.

    .venv/bin/python benchmarks/filter_cost.py --work /tmp/filter-cost [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# benchmarks/radiomics_speed.py would shadow pyradiomics' `radiomics` package: drop this folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from livermets.cohort import load_manifest  # noqa: E402
from livermets.radiomics import preset_params  # noqa: E402
from livermets.radiomics.runner import extract_cohort  # noqa: E402
from livermets.synth import generate_cohort, make_config  # noqa: E402

PRESETS = ("seed-ct-liver-original", "seed-ct-liver")


def one_lesion_manifest(work: Path, seed: int) -> tuple[Path, float]:
    """A one-patient cohort whose mask keeps only its largest lesion; (manifest, diameter)."""
    cohort = generate_cohort(make_config("crc-vs-pdac", 1, seed), work / "cohort", workers=1)
    manifest = pd.read_csv(cohort.manifest)
    mask_path = cohort.root / manifest.loc[0, "lesion_mask"]
    mask = sitk.ReadImage(str(mask_path))
    labels = sitk.GetArrayFromImage(mask)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    keep = int(counts.argmax())
    single = sitk.GetImageFromArray((labels == keep).astype(np.uint8))
    single.CopyInformation(mask)
    out = work / "one_lesion.nii.gz"
    sitk.WriteImage(single, str(out), useCompression=True)
    manifest.loc[0, "image"] = str(cohort.root / manifest.loc[0, "image"])
    manifest.loc[0, "liver_mask"] = str(cohort.root / manifest.loc[0, "liver_mask"])  # ring clip
    manifest.loc[0, "lesion_mask"] = str(out)
    for column in ("primary_mask", "lesion_labels"):
        if column in manifest:
            manifest[column] = None
    path = work / "one_lesion.csv"
    manifest.to_csv(path, index=False)
    truth = pd.read_csv(cohort.truth)
    return path, float(truth["diameter_mm"].max())


def main() -> None:
    """Time both presets and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path, diameter = one_lesion_manifest(args.work, args.seed)
    manifest = load_manifest(path)
    params = {name: preset_params(name) for name in PRESETS}
    extract_cohort(manifest, params[PRESETS[0]], workers=1)  # warm-up: imports, first read
    times: dict[str, list[float]] = {name: [] for name in PRESETS}
    n_features = {}
    for _ in range(args.repeats):  # presets interleaved, so load changes hit both alike
        for name in PRESETS:
            start = time.perf_counter()
            result = extract_cohort(manifest, params[name], workers=1)
            times[name].append(time.perf_counter() - start)
            if result.errors:
                raise SystemExit(f"{name}: extraction failed: {result.errors[:1]}")
            n_features[name] = sum(len(f) for f in result.features.values())
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"one synthetic lesion ({diameter:.0f} mm) + 5 mm ring, median of {args.repeats}")
    print(f"{'preset':<26} {'seconds':>8} {'features':>9}")
    for name in PRESETS:
        print(f"{name:<26} {medians[name]:8.2f} {n_features[name]!s:>9}")
    print(f"ratio: {medians[PRESETS[1]] / medians[PRESETS[0]]:.1f}x")


if __name__ == "__main__":
    main()
