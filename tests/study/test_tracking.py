"""Optional MLflow tracking."""

from __future__ import annotations

import importlib.util

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


def test_missing_mlflow_says_how_to_install_it():
    if importlib.util.find_spec("mlflow") is not None:
        assert _mlflow().__name__ == "mlflow"
        return
    with pytest.raises(ConfigError, match="pip install mlflow"):
        _mlflow()
