"""Choose the default search's selection rule on the radMLBench design tables only.

    .venv/bin/python benchmarks/radmlbench_design.py [--tables WORC-Liver ...] [--cache DIR]

For every outer fold (the benchmark's folds and seeds) every portfolio candidate is scored on
the grouped inner folds of the outer training rows and fitted on all of them; each rule of
``RULES`` is then applied to the inner predictions and scored on the outer test rows (pooled
AUC). Only the design tables may be passed here; the confirmation tables are for
``radmlbench.py`` once the rule is fixed.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import radmlbench as rb

from livermets.models import default_search as ds
from livermets.models.grouping import grouped_splits
from livermets.models.validation import fold_seed

RULES = {
    "best_single": {"top_families": 1, "se_factor": None},
    "top2_families": {"top_families": 2, "se_factor": None},
    "top3_families": {"top_families": 3, "se_factor": None},
    "all_families": {"top_families": None, "se_factor": None},
    "top2+fallback1se": {"top_families": 2, "se_factor": 1.0, "chance_z": None},
    "top3+fallback1se": {"top_families": 3, "se_factor": 1.0, "chance_z": None},
    "all+fallback1se": {"top_families": None, "se_factor": 1.0, "chance_z": None},
    "top3+fallback0.5se": {"top_families": 3, "se_factor": 0.5, "chance_z": None},
    "top2+fallback1se+chance": {"top_families": 2, "se_factor": 1.0, "chance_z": 1.96},
    "top3+fallback1se+chance": {"top_families": 3, "se_factor": 1.0, "chance_z": 1.96},
    "all+fallback1se+chance": {"top_families": None, "se_factor": 1.0, "chance_z": 1.96},
    "robust_only": {"top_families": 1, "se_factor": float("inf"), "chance_z": None},
    "rf500_only": {"top_families": 1, "se_factor": float("inf"), "chance_z": None,
                   "robust": ("rf500",)},
    "top3+fallback1se+chance, robust rf500": {"top_families": 3, "se_factor": 1.0,
                                              "chance_z": 1.96, "robust": ("rf500",)},
    "CHOSEN: top3+fallback1se+chance, robust rf+lgbm+lr32+svm": {
        "top_families": 3, "se_factor": 1.0, "chance_z": 1.96,
        "robust": ("rf500", "lgbm_small", "anova32_lr_c1", "anova64_rbf_svm")},
    "top3+fallback1se, robust rf+lgbm+lr32+svm": {
        "top_families": 3, "se_factor": 1.0, "chance_z": None,
        "robust": ("rf500", "lgbm_small", "anova32_lr_c1", "anova64_rbf_svm")},
    "top2+fallback1se, robust rf+et+lgbm+lr32+svm": {
        "top_families": 2, "se_factor": 1.0, "chance_z": None,
        "robust": ("rf500", "et500", "lgbm_small", "anova32_lr_c1", "anova64_rbf_svm")},
    "rf+lgbm+lr32+svm": {"top_families": 1, "se_factor": float("inf"), "chance_z": None,
                         "robust": ("rf500", "lgbm_small", "anova32_lr_c1", "anova64_rbf_svm")},
    "rf+et+lgbm+lr32+svm": {"top_families": 1, "se_factor": float("inf"), "chance_z": None,
                            "robust": ("rf500", "et500", "lgbm_small", "anova32_lr_c1",
                                       "anova64_rbf_svm")},
}


def candidates(name: str, root: Path, seed: int, n_jobs: int) -> list[dict]:
    """Per outer fold: inner OOF and outer test probabilities of every candidate."""
    data = rb.load(name, root)
    entries = ds.portfolio_entries()
    out = []
    for fold in rb.outer_folds(data, seed):
        s = fold_seed(ds.DEFAULT_SEARCH_SPEC, fold, seed)
        X, y, g = (data.X.iloc[fold.train].reset_index(drop=True), data.y[fold.train],
                   data.patient_id[fold.train])
        splits = grouped_splits(y, g, 5, s)
        oof = ds.portfolio_oof(entries, X, y, g, splits, s, n_jobs)
        Xa = data.X.iloc[np.r_[fold.train, fold.test]].reset_index(drop=True)
        ya = data.y[np.r_[fold.train, fold.test]]
        ga = data.patient_id[np.r_[fold.train, fold.test]]
        train, test = np.arange(len(fold.train)), np.arange(len(fold.train), len(ya))
        full = [(train, test)]
        tests = ds.portfolio_oof(entries, Xa, ya, ga, full, s, n_jobs)
        out.append({"y": y, "splits": splits, "oof": oof, "y_test": data.y[fold.test],
                    "test": {k: v[test] for k, v in tests.items()}})
    return out


def score(folds: list[dict], rule: dict) -> tuple[float, int]:
    """Pooled outer AUC of ``rule`` and how many folds fell back."""
    families = {e.name: e.family for e in ds.PORTFOLIO}
    probs, ys, fallbacks = [], [], 0
    for f in folds:
        rule = {"robust": ds.ROBUST_DEFAULT, **rule}
        c = ds.choose(f["oof"], f["y"], f["splits"], families, min_events=10, **rule)
        probs.append(np.mean([f["test"][m] for m in c.members], axis=0))
        ys.append(f["y_test"])
        fallbacks += c.used == "fallback"
    return ds._auc(np.concatenate(ys), np.concatenate(probs)), fallbacks


def main() -> None:
    """Score every rule and every single candidate on the design tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=rb.ROOT)
    parser.add_argument("--tables", nargs="+", default=list(rb.DESIGN_TABLES))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/radmlbench_design"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    bad = sorted(set(args.tables) & set(rb.CONFIRMATION_TABLES))
    if bad:
        parser.error(f"{bad} are confirmation tables: the design is chosen without them")
    args.cache.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    for name in args.tables:
        path = args.cache / f"{name}.pkl"
        if path.is_file():
            folds = pickle.loads(path.read_bytes())
        else:
            start = time.perf_counter()
            folds = candidates(name, args.root, args.seed, args.n_jobs)
            path.write_bytes(pickle.dumps(folds))
            print(f"{name}: candidates in {(time.perf_counter() - start) / 60:.1f} min",
                  flush=True)
        row = {}
        for cand in ds.PORTFOLIO:
            ys = np.concatenate([f["y_test"] for f in folds])
            row[cand.name] = ds._auc(ys, np.concatenate([f["test"][cand.name] for f in folds]))
        for rule_name, rule in RULES.items():
            row[rule_name], fb = score(folds, rule)
            row[f"{rule_name} fallbacks"] = fb
        results[name] = row
    names = list(next(iter(results.values())))
    print("| option | " + " | ".join(results) + " | mean |")
    print("|---|" + "---|" * (len(results) + 1))
    for option in names:
        values = [results[t][option] for t in results]
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
        print(f"| {option} | " + " | ".join(cells) + f" | {np.mean(values):.3f} |")


if __name__ == "__main__":
    main()
