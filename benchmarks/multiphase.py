"""Benchmark: train the multi-phase, multi-class lesion network on a synthetic cohort and report
the seed's numbers on held-out patients (internal test, centre A) and on the external centre B,
with all phases and with the delayed phase removed at test time.

Prints markdown tables: AUC-8 (mean patient-wise one-vs-rest AUC over the 8 classes),
AUC-2 (malignant vs benign), lesion detection precision / sensitivity, lesion classification
accuracy, FP per patient, lesion and liver Dice (max-inside-liver rule), the per-class AUCs, and
the training time. Synthetic data: the numbers show that the software works, not clinical accuracy.

    .venv/bin/python benchmarks/multiphase.py [--patients 80] [--iterations 1200] [--out DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml


def _ci(value: float, low: float, high: float) -> str:
    """``0.812 (0.701-0.923)``, or the value alone without a CI."""
    if pd.isna(value):
        return "n/a"
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} ({low:.3f}-{high:.3f})"


def headline_table(summary: pd.DataFrame) -> str:
    """The headline numbers of every cohort and scenario as a markdown table."""
    lines = ["| cohort | phases at test | patients | AUC-8 | AUC-2 | lesion precision | "
             "lesion sensitivity | lesion class accuracy | FP / patient | lesion Dice | "
             "liver Dice |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(
            f"| {r.cohort} | {r.scenario} | {r.n_patients} | "
            f"{_ci(r.auc_mean, r.auc_mean_ci_low, r.auc_mean_ci_high)} | "
            f"{_ci(r.auc_malignant, r.auc_malignant_ci_low, r.auc_malignant_ci_high)} | "
            f"{r.lesion_precision:.3f} | {r.lesion_sensitivity:.3f} | {r.lesion_accuracy:.3f} | "
            f"{r.fp_per_patient:.2f} | {r.lesion_dice:.3f} | {r.liver_dice:.3f} |")
    return "\n".join(lines)


def class_table(result: object) -> str:
    """Per-class patient AUC (max-inside-liver rule) of every cohort and scenario."""
    columns, aucs = [], {}
    for r in result.results:  # type: ignore[attr-defined]
        if r.evaluation is None:
            continue
        name = f"{r.cohort}, {r.scenario}"
        columns.append(name)
        t = r.evaluation.class_auc
        for _, row in t[t["rule"] == "max_in_liver"].iterrows():
            aucs.setdefault(row["class"], {})[name] = (
                f"{_ci(row['auc'], row['ci_low'], row['ci_high'])} [{row['n_pos']}+]")
    lines = ["| class | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for cls, values in aucs.items():
        lines.append(f"| {cls} | " + " | ".join(values.get(c, "") for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Generate the cohort, run the workflow, print the tables."""
    from livermets.deep.multiphase.config import make_settings
    from livermets.deep.multiphase.workflow import run_workflow
    from livermets.synth import generate_cohort, make_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=80)
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", dest="threads", type=int, default=1,
                        help="torch threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a setting, e.g. --set features=[8,16,32,64]")
    parser.add_argument("--out", type=Path, default=None, help="Keep outputs here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        start = time.perf_counter()
        cohort = generate_cohort(make_config("multiphase-multiclass", args.patients, args.seed, 2,
                                             scale=args.scale), root / "cohort", workers=1)
        synth_s = time.perf_counter() - start
        overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.set)}
        settings = make_settings(overrides, iterations=args.iterations, threads=args.threads,
                                 seed=args.seed)
        start = time.perf_counter()
        result = run_workflow(cohort.manifest, settings, root / "run", external_centres=["B"],
                              test_fraction=0.25, seed=args.seed,
                              log=lambda m: print(m, file=sys.stderr, flush=True))
        total_s = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        split = result.split
        print(f"synthetic multiphase-multiclass cohort: {args.patients} patients (scale "
              f"{args.scale}, generated in {synth_s:.0f} s); train {len(split.train)}, internal "
              f"test {len(split.internal)}, external centre B {len(split.external)}; "
              f"{args.iterations} iterations, batch {settings.batch_size}, patch "
              f"{settings.patch}, features {settings.features}, spacing {settings.spacing_mm} mm, "
              f"{args.threads} threads")
        print(f"training {result.train_seconds:.0f} s; whole workflow {total_s:.0f} s; "
              f"peak RSS {peak:.0f} MB\n")
        print(headline_table(result.summary()))
        print()
        print(class_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
