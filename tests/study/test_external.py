"""External validation: too few development positives refused up front with counts and advice;
a development cut-off that calls no external case positive is flagged in metrics and report."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.study import register
from livermets.study.metrics import model_metrics
from tests.study.conftest import write_config, write_table

EXTERNAL = {"design": "external", "test_centres": ["B"], "folds": 3, "repeats": 1,
            "bootstrap": 200}


def run(*args):
    """The study CLI in-process: (exit code, output with line breaks joined)."""
    app = new_app("test")
    register(app)
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split()), result


def test_external_design_with_two_development_positives_is_refused_before_fitting(tmp_path):
    table = pd.read_csv(write_table(tmp_path / "features.csv"))
    centre_a = table["center"] == "A"
    table.loc[centre_a, "label"] = "hemangioma"
    table.loc[table["patient_id"].isin(["P000", "P001"]), "label"] = "metastasis"
    table.to_csv(tmp_path / "features.csv", index=False)
    config = write_config(tmp_path, data={"features": "features.csv", "positive": "metastasis"},
                          validation=EXTERNAL)
    code, output, result = run("study", "run", config, "--out", tmp_path / "out")
    assert code == 2 and result.exc_info[0] is SystemExit, output
    assert "validation.design external (development centres ['A'], test centres ['B'])" in output
    assert ("The development set holds hemangioma: 20 patient(s), metastasis: 2 patient(s) "
            "(22 patients, 33 rows)") in output
    assert "pool the centres" in output and "lower validation.folds (now 3)" in output
    assert "Traceback" not in output and "liblinear" not in output
    assert not (tmp_path / "out" / "predictions.parquet").exists()  # nothing was fitted


def test_a_combined_model_with_three_positives_is_refused_before_any_fold(tmp_path):
    table = pd.read_csv(write_table(tmp_path / "features.csv"))
    table.loc[table["center"] == "A", "label"] = "hemangioma"
    table.loc[table["patient_id"].isin(["P000", "P002", "P004", "P006"]), "label"] = "metastasis"
    table.to_csv(tmp_path / "features.csv", index=False)
    config = write_config(tmp_path, data={"features": "features.csv", "positive": "metastasis",
                                          "clinical": ["cea", "sex"]},
                          clinical={"variables": ["cea", "sex"]},
                          validation={**EXTERNAL, "folds": 2})
    code, output, _ = run("study", "run", config, "--out", tmp_path / "out")
    assert code == 2, output
    assert "metastasis: 4 patient(s)" in output and "model 'combined'" in output
    assert "the out-of-fold rad-score needs at least 2 patients of every class" in output
    assert "drop the combined model (clinical.combined: false)" in output
    assert not (tmp_path / "out" / "predictions.parquet").exists()


def test_sensitivity_zero_at_the_development_cut_off_is_flagged(tmp_path):
    table = pd.read_csv(write_table(tmp_path / "features.csv"))
    external_pos = (table["center"] == "B") & (table["label"] == "metastasis")
    # the external centre's positives look like the development negatives, and lower still
    for column in ("original_firstorder_F0", "original_glcm_Contrast"):
        table.loc[external_pos, column] = -6.0
    table.to_csv(tmp_path / "features.csv", index=False)
    model = {"name": "lasso_lr", "select": "anova", "select_params": {"k": 2},
             "classifier": "logistic"}
    config = write_config(tmp_path, data={"features": "features.csv", "positive": "metastasis"},
                          models=[model], validation=EXTERNAL)
    code, output, _ = run("study", "run", config, "--out", tmp_path / "out")
    assert code == 0, output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    external = metrics["models"]["lasso_lr"]["splits"]["external"]
    assert external["n_positive"] == int(external_pos.sum())
    assert external["youden"]["sensitivity"]["value"] == 0
    assert external["youden"]["specificity"]["value"] > 0.5
    warning = metrics["models"]["lasso_lr"]["warnings"]
    assert len(warning) == 1 and "external split" in warning[0] and "sensitivity 0" in warning[0]
    assert metrics["warnings"] == warning
    assert "cv" in metrics["models"]["lasso_lr"]["splits"]  # the CV split is not flagged
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Warning: model lasso_lr, external split: the cut-off chosen on the development " \
        "data" in html


def test_specificity_zero_is_flagged_and_cv_splits_are_not():
    rows = pd.DataFrame({"model": "m", "repeat": 0, "fold": 0, "split": "external",
                         "patient_id": [f"P{i}" for i in range(6)],
                         "y_true": ["n", "n", "n", "p", "p", "p"],
                         "y_prob": [0.6, 0.7, 0.8, 0.9, 0.95, 0.99]})
    cv = rows.assign(split="cv", fold=1)
    thresholds = pd.DataFrame({"model": "m", "repeat": 0, "fold": [0, 1],
                               "split": ["external", "cv"], "threshold": 0.5})
    entry = model_metrics(pd.concat([rows, cv]), thresholds, ["n", "p"], n_boot=100)["m"]
    assert entry["splits"]["external"]["youden"]["specificity"]["value"] == 0
    assert entry["splits"]["cv"]["youden"]["specificity"]["value"] == 0
    assert len(entry["warnings"]) == 1
    assert entry["warnings"][0].startswith("model m, external split: the cut-off chosen on the "
                                           "development data (0.5) gives specificity 0 "
                                           "(sensitivity 1.00)")
