"""radMLBench: honest nested CV of the default livermets pipeline search on the collection's
feature tables, next to the collection's own 616-configuration results.

    .venv/bin/python benchmarks/radmlbench.py [--datasets WORC-CRLM WORC-Liver] [--trials 25]
        [--folds 10] [--repeats 3] [--workers N]

The outer loop (folds x repeats, stratified, seeded) only estimates; the inner loop (Optuna TPE,
3 inner folds) chooses selector, classifier and hyperparameters on the outer training rows only.
The reference columns are the best / 75th percentile / median CV AUC of the collection's 616
configurations (trial_<name>_1.0.csv); the best of 616 is optimistically biased by selection.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from livermets.models import FeatureData, PipelineSpec, Tuning, grouped_kfold, run_folds
from livermets.models.validation import predictions_table
from livermets.stats import roc_auc

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radmlbench"
DEFAULT_SPEC = PipelineSpec(
    name="default_search",
    redundancy=0.6,
    select="lasso",
    classifier="logistic",
    search={"select": ["lasso", "anova", "mrmr"],
            "classifier": ["logistic", "rbf_svm", "random_forest", "naive_bayes"]},
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


def run(name: str, folds: int, repeats: int, trials: int, workers: int, seed: int,
        root: Path = ROOT) -> dict:
    """Nested CV of the default search on one dataset; AUC per repeat and of the mean score."""
    data = load(name, root)
    start = time.perf_counter()
    outer = grouped_kfold(data.y, data.patient_id, folds, repeats, seed)
    tuning = Tuning(trials=trials, inner_folds=3)
    outcomes = run_folds([DEFAULT_SPEC], data, outer, tuning, seed, workers=workers)
    table = predictions_table(outcomes, data)
    per_repeat = [roc_auc(g["y_true"], g["y_prob"], positive=1, direction="<").auc
                  for _, g in table.groupby("repeat")]
    mean = table.groupby("patient_id").agg(y=("y_true", "first"), p=("y_prob", "mean"))
    pooled = roc_auc(mean["y"], mean["p"], positive=1, direction="<")
    chosen = pd.Series([f"{o.params['select']}+{o.params['classifier']}" for o in outcomes])
    return {"dataset": name, "n": len(data.y), "features": data.X.shape[1],
            "auc_mean_repeats": float(np.mean(per_repeat)), "auc_sd": float(np.std(per_repeat)),
            "auc_avg_score": pooled.auc, "ci": pooled.ci,
            "top_choice": chosen.value_counts().index[0],
            "minutes": (time.perf_counter() - start) / 60}


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="radMLBench folder")
    known, _ = parser.parse_known_args()
    names = sorted(p.name[:-3] for p in (known.root / "datasets").glob("*.gz"))
    parser.add_argument("--datasets", nargs="+", default=names)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        result = run(name, args.folds, args.repeats, args.trials, args.workers, args.seed,
                     args.root)
        ref = reference(name, args.root) or {}
        rows.append({**result, **{f"ref_{k}": v for k, v in ref.items()}})
        r = rows[-1]
        print(f"{name}: nested AUC {r['auc_mean_repeats']:.3f} ± {r['auc_sd']:.3f} "
              f"(mean score {r['auc_avg_score']:.3f}, 95% CI {r['ci'][0]:.3f}-{r['ci'][1]:.3f}); "
              f"ref best {ref.get('best', float('nan')):.3f} p75 {ref.get('p75', float('nan')):.3f}"
              f" median {ref.get('median', float('nan')):.3f}; {r['minutes']:.1f} min", flush=True)
    print()
    print(f"| dataset | n | features | ours: nested CV AUC (mean ± SD over {args.repeats} repeats)"
          " | ours: AUC of mean score [95% CI] | ref best of 616 | ref 75th pct | ref median | "
          "most chosen | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = [f"{r[k]:.3f}" if k in r else "n/a" for k in ("ref_best", "ref_p75", "ref_median")]
        print(f"| {r['dataset']} | {r['n']} | {r['features']} | {r['auc_mean_repeats']:.3f} ± "
              f"{r['auc_sd']:.3f} | {r['auc_avg_score']:.3f} [{r['ci'][0]:.3f}-{r['ci'][1]:.3f}]"
              f" | {' | '.join(ref)} | {r['top_choice']} | {r['minutes']:.1f} |")


if __name__ == "__main__":
    main()
