"""radMLBench: nested CV of the recommended livermets search on the collection's feature
tables, next to the collection's own 616-configuration results.

    .venv/bin/python benchmarks/radmlbench.py [--datasets WORC-CRLM WORC-Liver] [--trials 40]
        [--inner-folds 5] [--ensemble 10] [--folds 10] [--repeats 3] [--workers N]

The outer loop (folds x repeats, stratified, seeded) only estimates; the inner loop (Optuna TPE
on grouped inner folds) chooses selector, k, classifier and hyperparameters on the outer training
rows only, and the 10 best distinct inner configurations are refitted on those rows and their
probabilities averaged (``Tuning.ensemble``). The design (``DEFAULT_SPEC``: no redundancy
filter, top-k selectors with k in 16-256, L2 logistic regression with C in 2^-7..2^5, averaging
the best inner configurations) was itself chosen by comparing about 20 designs with this nested
CV on these four tables and folds: each design's estimate is nested, the choice among them is
not, so the gains over the previous default are exploratory until confirmed on other data.

The reference columns are the best / 75th percentile / median CV AUC of the collection's 616
configurations (trial_<name>_1.0.csv). radMLBench scores every configuration on ONE shared
10-fold split (RepeatedStratifiedKFold(10, 1, random_state=463)) and its best is the maximum over
616 noisy values on that split, a selection on the test folds; the "fresh CV" column re-scores
that best configuration on new splits.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from livermets.models import FeatureData, PipelineSpec, Tuning, grouped_kfold, run_folds
from livermets.models.validation import predictions_table
from livermets.stats import roc_auc

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radmlbench"
K_GRID = [16, 32, 64, 128, 256]
DEFAULT_SPEC = PipelineSpec(
    name="honest_search",
    redundancy=None,
    select="anova",
    classifier="logistic",
    search={
        "select": ["anova", "lasso", "bhattacharyya"],
        "classifier": ["logistic", "rbf_svm", "naive_bayes"],
        "params": {"select.anova.k": K_GRID, "select.bhattacharyya.k": K_GRID,
                   "logistic.C": {"low": 2.0**-7, "high": 2.0**5, "log": True}},
    },
)
DEFAULT_TUNING = {"trials": 40, "inner_folds": 5, "ensemble": 10}

# The reference's best configuration re-scored on fresh splits (mean ± SD of the pooled AUC over
# 10 repeats of StratifiedKFold(10, shuffle=True, random_state=1000..1009)), measured with the
# radMLBench pipeline reproduced to 1e-6 by a separate script (not in this repository: these
# two values are quoted, not computed here):
# WORC-CRLM best of 616 = Bhattacharyya N=2 + RBF-SVM C=2 (0.726 on their split),
# WORC-Liver best = Bhattacharyya N=64 + logistic C=8 (0.819 on their split).
FRESH_CV_OF_REFERENCE_BEST = {"WORC-CRLM": (0.624, 0.049), "WORC-Liver": (0.804, 0.014)}

NOTE = (
    "Note: 'ref best of 616' is the maximum over 616 configurations all scored on ONE shared "
    "10-fold split (radMLBench: RepeatedStratifiedKFold(10, 1, random_state=463)), i.e. a "
    "selection on the test folds, so it is biased upwards; the same configuration on fresh "
    "splits gives the 'fresh CV' column (quoted from a separate run, not computed by this "
    "script). 'ours' is nested: every choice within a design is made on the outer training "
    "rows only; the design itself was chosen on these tables."
)


def load(name: str, root: Path = ROOT) -> FeatureData:
    """A radMLBench table as FeatureData (one row per patient, ID, Target)."""
    table = pd.read_csv(root / "datasets" / f"{name}.gz")
    X = table.drop(columns=["ID", "Target"]).astype(float)
    return FeatureData(X, table["Target"].to_numpy(dtype=int), [0, 1],
                       table["ID"].astype(str).to_numpy())


def reference(name: str, root: Path = ROOT) -> dict[str, float] | None:
    """Best, 75th percentile and median CV AUC of the collection's configurations."""
    path = root / "reference_cv_auc" / f"trial_{name}_1.0.csv"
    if not path.is_file():
        return None
    values = pd.read_csv(path)["value"].dropna()
    return {"n_configs": len(values), "best": values.max(), "p75": values.quantile(0.75),
            "median": values.median()}


def _label(params: dict) -> str:
    k = params.get("select_params", {}).get("k")
    return f"{params['select']}{'' if k is None else f'/{k}'}+{params['classifier']}"


def run(name: str, folds: int, repeats: int, tuning: Tuning, workers: int, seed: int,
        root: Path = ROOT, spec: PipelineSpec = DEFAULT_SPEC) -> dict:
    """Nested CV of ``spec`` on one dataset; AUC per repeat and of the mean score."""
    data = load(name, root)
    start = time.perf_counter()
    outer = grouped_kfold(data.y, data.patient_id, folds, repeats, seed)
    outcomes = run_folds([spec], data, outer, tuning, seed, workers=workers)
    table = predictions_table(outcomes, data)
    per_repeat = [roc_auc(g["y_true"], g["y_prob"], positive=1, direction="<").auc
                  for _, g in table.groupby("repeat")]
    mean = table.groupby("patient_id").agg(y=("y_true", "first"), p=("y_prob", "mean"))
    pooled = roc_auc(mean["y"], mean["p"], positive=1, direction="<")
    members = Counter(_label(m) for o in outcomes for m in (o.members or [o.params]))
    return {"dataset": name, "n": len(data.y), "features": data.X.shape[1],
            "auc_mean_repeats": float(np.mean(per_repeat)), "auc_sd": float(np.std(per_repeat)),
            "auc_avg_score": pooled.auc, "ci": pooled.ci,
            "top_choice": members.most_common(1)[0][0],
            "minutes": (time.perf_counter() - start) / 60}


def row(r: dict) -> str:
    """One markdown row of the result table."""
    ref = [f"{r[k]:.3f}" if k in r else "n/a" for k in ("ref_best", "ref_p75", "ref_median")]
    fresh = FRESH_CV_OF_REFERENCE_BEST.get(r["dataset"])
    fresh_cell = f"{fresh[0]:.3f} ± {fresh[1]:.3f}" if fresh else "n/a"
    return (f"| {r['dataset']} | {r['n']} | {r['features']} | {r['auc_mean_repeats']:.3f} ± "
            f"{r['auc_sd']:.3f} | {r['auc_avg_score']:.3f} [{r['ci'][0]:.3f}-{r['ci'][1]:.3f}]"
            f" | {ref[0]} | {fresh_cell} | {ref[1]} | {ref[2]} | {r['top_choice']} | "
            f"{r['minutes']:.1f} |")


def main() -> None:
    """Run the benchmark and print the table (a row as each dataset finishes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="radMLBench folder")
    known, _ = parser.parse_known_args()
    names = sorted(p.name[:-3] for p in (known.root / "datasets").glob("*.gz"))
    parser.add_argument("--datasets", nargs="+", default=names)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=DEFAULT_TUNING["trials"])
    parser.add_argument("--inner-folds", type=int, default=DEFAULT_TUNING["inner_folds"])
    parser.add_argument("--ensemble", type=int, default=DEFAULT_TUNING["ensemble"],
                        help="average the N best inner configurations (1 = the best only)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tuning = Tuning(trials=args.trials, inner_folds=args.inner_folds, ensemble=args.ensemble)
    print(f"design: {args.folds}-fold x {args.repeats} outer; inner {tuning.trials} TPE trials "
          f"on {tuning.inner_folds} folds; ensemble of the {tuning.ensemble} best; spec "
          f"{DEFAULT_SPEC.model_dump(mode='json', exclude={'name', 'base'})}", flush=True)
    print(f"| dataset | n | features | ours: nested CV AUC (mean ± SD over {args.repeats} "
          "repeats) | ours: AUC of mean score [95% CI] | ref best of 616 (one split) | "
          "ref best, fresh CV (mean ± SD) | ref 75th pct | ref median | most used member | "
          "minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.datasets:
        result = run(name, args.folds, args.repeats, tuning, args.workers, args.seed, args.root)
        ref = reference(name, args.root) or {}
        print(row({**result, **{f"ref_{k}": v for k, v in ref.items()}}), flush=True)
    print()
    print(NOTE)


if __name__ == "__main__":
    main()
