"""Benchmark: each seed study design run from its template on its synthetic task, at demo size.

For every template (``livermets study init NAME``): ``livermets synth`` makes the matching cohort,
the template runs unchanged except for sizes (data path, repeats, tuning trials, CNN epochs and
crop size, multi-phase iterations, a 3 mm radiomics grid), and the script prints, per design, the
paper's steps with the YAML key that sets each and the output it produced, and the headline
numbers (AUC with DeLong CI per model and split, C-index, multi-phase AUC-8), with wall times.

Synthetic data: the numbers show that each design runs end to end, not that a model works on
patients.

    .venv/bin/python benchmarks/seed_designs.py [--only NAME ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

# template: (synth task, patients, extra synth options)
DESIGNS = {
    "crlm_vs_hemangioma": ("crlm-vs-hemangioma", 40, []),
    "crc_vs_pdac_origin": ("crc-vs-pdac", 40, ["--holdout", "4+4"]),
    "mlm_nomogram": ("mlm-survival", 80, []),
    "rectal_mri_slm": ("slm-clinical", 60, []),
    "multiphase_liver_tumours": ("multiphase-multiclass", 90, ["--seed", "1"]),
}

# paper step -> (YAML key of the template, the output that holds the result)
STEPS = {
    "crlm_vs_hemangioma": [
        ("lesion radiomics (portal-venous CT, LoG + wavelet)", "data.radiomics_params",
         "features.parquet"),
        ("5 classifiers, each with its selector", "models", "tables/models.csv"),
        ("nested CV with Optuna tuning, grouped by patient", "validation.tuning",
         "metrics.json models.*.splits.cv"),
        ("size subgroups (<=10, 10-30, >30 mm)", "subgroups", "tables/subgroups.csv"),
        ("patient level (max over lesions)", "aggregation", "report: Patient level"),
        ("ROC, calibration, DCA", "task: binary",
         "tables/calibration_cv.csv, decision_curve_cv.csv"),
    ],
    "crc_vs_pdac_origin": [
        ("original-image features only", "data.radiomics_params", "features.parquet"),
        ("4 + 4 patient hold-out", "validation.design: fixed_split, data.split_column",
         "metrics.json models.*.splits.test"),
        ("5 classifiers (LASSO-LR, RF, XGBoost, kNN, NB)", "models", "tables/models.csv"),
        ("size subgroups", "subgroups", "tables/subgroups.csv"),
    ],
    "mlm_nomogram": [
        ("liver + primary radiomics, rad-score", "clinical.radiomics_model",
         "tables/odds_ratios_combined.csv"),
        ("clinical LR with ORs (LASSO selection)", "clinical.selection",
         "tables/odds_ratios_clinical.csv"),
        ("external validation on centre B", "validation.test_centres",
         "metrics.json models.*.splits.external"),
        ("Cox model, C-index, Kaplan-Meier by risk group", "survival",
         "tables/cox.csv, numbers_at_risk.csv"),
    ],
    "rectal_mri_slm": [
        ("primary-tumour radiomics (T2, DWI, ADC)", "data.radiomics_params", "features.parquet"),
        ("LASSO-LR and SMOTE + linear SVM", "models", "tables/models.csv"),
        ("clinical LR (p-value selection), combined nomogram", "clinical",
         "tables/odds_ratios_clinical.csv"),
        ("ResNet on the primary, and ResNet + clinical", "deep", "report: Deep models"),
    ],
    "multiphase_liver_tumours": [
        ("radiomics RF / XGBoost / LR, 8 classes", "models", "tables/models.csv"),
        ("multi-phase network, with and without the delayed phase", "multiphase",
         "report: Multi-phase"),
        ("external validation on centre B", "validation.test_centres",
         "metrics.json models.*.splits.external"),
    ],
}


def sized(config: dict[str, Any], folder: Path, epochs: int, iterations: int) -> dict[str, Any]:
    """The template at demo size, its data in ``folder/cohort``."""
    from livermets.radiomics import preset_params

    config["data"]["manifest"] = "cohort/manifest.csv"
    preset = config["data"].get("radiomics_params")
    if preset:
        params = preset_params(preset).model_dump(mode="json")
        resampling = params["extraction"].get("resampling") or {}
        if resampling.get("spacing"):
            resampling["spacing"] = [3.0, 3.0, 3.0]
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        config["data"]["radiomics_params"] = "params.yaml"
    validation = config["validation"]
    validation["repeats"] = 1
    if validation.get("tuning", {}).get("trials"):
        validation["tuning"] = {**validation["tuning"], "trials": 5}
    for model in config.get("deep") or []:
        model.setdefault("train", {})["epochs"] = epochs
        model["crops"]["size"] = 32
    if "multiphase" in config:
        config["multiphase"]["settings"].update(iterations=iterations, patch=[16, 16, 8])
    return config


def headline(out: Path) -> list[dict[str, Any]]:
    """AUC (DeLong CI) per model and split, plus survival C-index and multi-phase AUC-8."""
    rows: list[dict[str, Any]] = []
    models = out / "tables" / "models.csv"
    if models.is_file():
        table = pd.read_csv(models)
        auc = next(c for c in table.columns if "AUC" in c)  # binary: DeLong CI; else macro AUC
        for r in table.to_dict(orient="records"):
            rows.append({"model": r["model"], "split": r["split"], "cases": r["cases"],
                         "metric": auc, "value": r[auc]})
    c_index = out / "tables" / "c_index_models.csv"
    if c_index.is_file():
        table = pd.read_csv(c_index)
        for r in table.to_dict(orient="records"):
            rows.append({"model": r.get("model"), "split": r.get("split", ""), "cases": "",
                         "metric": "C-index", "value": round(float(r["C-index"]), 3)})
    multiphase = out / "multiphase" / "summary.csv"
    if multiphase.is_file():
        for r in pd.read_csv(multiphase).to_dict(orient="records"):
            rows.append({"model": f"multiphase ({r.get('scenario', '')})",
                         "split": r.get("cohort", ""), "cases": r.get("n_patients", ""),
                         "metric": "AUC-8", "value": round(float(r.get("auc_mean")), 3)})
    return rows


def run_design(name: str, root: Path, epochs: int, iterations: int) -> dict[str, Any]:
    """Synthesise, run and summarise one design."""
    from typer.testing import CliRunner

    from livermets.cli.main import app

    task, patients, extra = DESIGNS[name]
    folder = root / name
    folder.mkdir(parents=True)
    runner = CliRunner()
    seed = [] if "--seed" in extra else ["--seed", "3"]
    start = time.perf_counter()
    made = runner.invoke(app, ["synth", "--task", task, "--patients", str(patients), *seed,
                               "--scale", "2", "--workers", "1",
                               "--out", str(folder / "cohort"), *extra])
    if made.exit_code:
        raise RuntimeError(made.output)
    synth_s = time.perf_counter() - start
    config = yaml.safe_load((files("livermets") / "templates" / f"{name}.yaml").read_text())
    (folder / "study.yaml").write_text(yaml.safe_dump(sized(config, folder, epochs, iterations),
                                                      sort_keys=False))
    start = time.perf_counter()
    result = runner.invoke(app, ["study", "run", str(folder / "study.yaml"),
                                 "--out", str(folder / "out")])
    study_s = time.perf_counter() - start
    if result.exit_code:
        import traceback

        detail = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
        raise RuntimeError(f"{name}: {result.output}\n{detail}")
    html = (folder / "out" / "report.html").read_text()
    return {"design": name, "task": task, "patients": patients, "synth_s": synth_s,
            "study_s": study_s, "sections": sorted(set(re.findall(r'<section id="([^"]+)">',
                                                                   html))),
            "headline": headline(folder / "out")}


def markdown(summary: dict[str, Any]) -> str:
    """The design's step table and headline table."""
    lines = [f"### {summary['design']} (synth `{summary['task']}`, {summary['patients']} "
             f"patients; synth {summary['synth_s']:.0f} s, study {summary['study_s']:.0f} s)", "",
             "| paper step | YAML key | output |", "|---|---|---|"]
    lines += [f"| {s} | `{k}` | `{o}` |" for s, k, o in STEPS[summary["design"]]]
    lines += ["", "| model | split | cases | metric | value |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['split']} | {r['cases']} | {r['metric']} | {r['value']} |"
              for r in summary["headline"]]
    lines += ["", "report sections: " + ", ".join(summary["sections"]), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the designs and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=sorted(DESIGNS), choices=sorted(DESIGNS))
    parser.add_argument("--epochs", type=int, default=5, help="CNN epochs")
    parser.add_argument("--iterations", type=int, default=200, help="multi-phase iterations")
    parser.add_argument("--out", type=Path, default=None, help="Keep the study folders here.")
    args = parser.parse_args(argv)
    print("Synthetic cohorts: the numbers show that each design runs end to end, not clinical "
          "accuracy.\n")
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        for name in args.only:
            summary = run_design(name, root, args.epochs, args.iterations)
            summaries.append(summary)
            print(markdown(summary), flush=True)
        if args.out:
            (args.out / "seed_designs.json").write_text(json.dumps(summaries, indent=1,
                                                                   default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
