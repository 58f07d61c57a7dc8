"""Optional MLflow tracking."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from livermets.errors import ConfigError
from livermets.study.tracking import _mlflow, flat_metrics


def test_flat_metrics_names_model_split_and_measure():
    metrics = {"models": {"lr": {"splits": {"cv": {
        "auc": {"auc": 0.8, "ci": [0.7, 0.9]},
        "youden": {"sensitivity": {"value": 0.75}, "specificity": {"value": 0.7},
                   "accuracy": {"value": 0.72}}}}}}}
    assert flat_metrics(metrics) == {
        "lr.cv.auc": 0.8, "lr.cv.auc_ci_low": 0.7, "lr.cv.auc_ci_high": 0.9,
        "lr.cv.sensitivity": 0.75, "lr.cv.specificity": 0.7, "lr.cv.accuracy": 0.72}


def test_mlflow_is_found_and_a_missing_one_says_how_to_install_it(monkeypatch):
    assert _mlflow().__name__ == "mlflow"  # `make test` installs the tracking extra
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'livermets\[tracking\]' \(mlflow-skinny\)"):
        _mlflow()


def test_a_study_run_is_logged_to_mlflow_and_reads_back(study_dir):
    from mlflow.tracking import MlflowClient

    from livermets.pipeline import run_study
    from livermets.study.tracking import default_store
    from tests.study.conftest import write_config

    config = write_config(study_dir, tracking="mlflow",
                          models=[{"name": "lr", "select": "anova", "select_params": {"k": 3}}],
                          validation={"folds": 2, "bootstrap": 100},
                          explain={"shap": False, "permutation": False})
    result = run_study(config, study_dir / "out")
    uri, _ = default_store(study_dir / "out")
    assert uri.startswith("sqlite:///") and (study_dir / "out" / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("toy")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [result.tracking_run]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "3" and run.data.params["design"] == "cv"
    assert run.data.params["folds"] == "2" and '"select":"anova"' in run.data.params["model.lr"]
    written = json.loads((study_dir / "out" / "metrics.json").read_text())
    cv = written["models"]["lr"]["splits"]["cv"]
    assert run.data.metrics["lr.cv.auc"] == cv["auc"]["auc"]
    assert run.data.metrics["lr.cv.auc_ci_low"] == cv["auc"]["ci"][0]
    assert run.data.metrics["lr.cv.sensitivity"] == cv["youden"]["sensitivity"]["value"]
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "predictions.parquet", "report.html", "models"} <= top
    model = {a.path for a in client.list_artifacts(run.info.run_id, "models/lr")}
    assert model == {"models/lr/card.json", "models/lr/model.skops"}
    card = json.loads(Path(client.download_artifacts(run.info.run_id, "models/lr/card.json",
                                                     str(study_dir))).read_text())
    assert card == json.loads((study_dir / "out" / "models" / "lr" / "card.json").read_text())
    # the artifacts live in the output folder, not in the working directory
    assert (study_dir / "out" / "mlartifacts").is_dir()
