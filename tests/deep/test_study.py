"""A deep model next to a classical one in a study; the frozen model on a manifest; the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError
from livermets.study.config import config_from_dict

DEEP = {"name": "cnn", "crops": {"size": 24, "max_slices": 2},
        "network": {"backbone": "densenet_tiny"},
        "train": {"epochs": 2, "batch_size": 16, "threads": 1}}


def _config(manifest, features, **extra):
    return config_from_dict({
        "name": "deep_test", "seed": 1, "synthetic": True,
        "data": {"features": str(features), "positive": "metastasis",
                 "clinical": ["cea", "sex"]},
        "models": [{"name": "logit", "select": "none", "redundancy": None}],
        "deep": [{**DEEP, "manifest": str(manifest.path)},
                 {**DEEP, "name": "cnn_clin", "inputs": "image+clinical", "final_model": True,
                  "manifest": str(manifest.path)}],
        "validation": {"folds": 2, "bootstrap": 100},
        "explain": {"shap": False, "permutation": False},
        **extra,
    })


def test_config_validation(synth_cohort, tmp_path):
    manifest, _ = synth_cohort
    with pytest.raises(ConfigError, match="unique"):
        _config(manifest, tmp_path / "f.csv", models=[{"name": "cnn"}])
    with pytest.raises(ConfigError, match="backbone"):
        config_from_dict({"data": {"features": "f.csv"}, "models": [{"name": "a"}],
                          "deep": [{"name": "b", "network": {"backbone": "vgg"}}]})


def _deep_cli():
    """The ``deep`` command group on its own app (main.py registers it the same way)."""
    from typer.testing import CliRunner

    from livermets.cli._common import new_app
    from livermets.cli.deep import register

    app = new_app("test")
    register(app)

    def invoke(*args):
        result = CliRunner().invoke(app, [str(a) for a in args])
        return result.exit_code, result.output

    return invoke


def test_deep_model_in_study_and_predict(synth_cohort, tmp_path):
    from livermets.deep.study import predict_deep
    from livermets.study import run_study

    manifest, lesions = synth_cohort
    features = tmp_path / "features.csv"
    lesions[["patient_id", "lesion_id", "label", "size_group", "diameter_mm", "mean_hu",
             "sd_hu"]].merge(manifest.table[["patient_id", "cea", "sex"]].astype(
                 {"patient_id": str}), on="patient_id").to_csv(features, index=False)
    out = tmp_path / "study"
    result = run_study(_config(manifest, features), out)
    pred = pd.read_parquet(out / "predictions.parquet")
    assert set(pred["model"]) == {"logit", "cnn", "cnn_clin"}
    a = pred[pred.model == "logit"].sort_values(["patient_id", "lesion_id"])
    b = pred[pred.model == "cnn"].sort_values(["patient_id", "lesion_id"])
    assert a[["patient_id", "lesion_id", "fold"]].to_numpy().tolist() == \
        b[["patient_id", "lesion_id", "fold"]].to_numpy().tolist()
    assert b["y_prob"].between(0, 1).all() and b["y_prob"].nunique() > 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert "cnn" in metrics["models"]
    assert "cnn" in (out / "report.html").read_text()
    card = json.loads((out / "models" / "cnn" / "card.json").read_text())
    assert card["kind"] == "deep" and card["synthetic"] is True
    assert result.metrics["models"]["cnn"]
    # re-running reuses the cached folds
    again = run_study(_config(manifest, features), out)
    assert again.predictions.equals(result.predictions)

    from livermets.deep.demo import add_demo_cnn
    from livermets.report import Report

    report = Report("t", synthetic=True)
    table = add_demo_cnn(report, manifest.path, out, seed=0, workers=1, spec={
        "crops": {"size": 24, "max_slices": 2}, "network": {"backbone": "densenet_tiny"},
        "train": {"epochs": 1}})
    assert table["model"].tolist()[:2] == ["densenet121_cnn", "logit"]
    assert len(table) == 4  # the CNN against logit, cnn and cnn_clin
    assert table["AUC"].between(0, 1).all() and "DeLong p" in table
    assert "CNN on lesion crops" in report.render()
    assert (out / "deep" / "predictions_cnn.parquet").is_file()

    summary = predict_deep(out / "models" / "cnn", manifest.path, tmp_path / "new.parquet")
    new = pd.read_parquet(tmp_path / "new.parquet")
    assert summary["rows"] == len(lesions) == len(new)
    assert set(new["y_pred"]) <= {"hemangioma", "metastasis"}
    patients = pd.read_parquet(tmp_path / "new_patients.parquet")
    assert len(patients) == lesions["patient_id"].nunique()
    assert np.allclose(patients[["p_hemangioma", "p_metastasis"]].sum(1), 1.0)
    # `livermets predict` (the frozen-model command of every study) dispatches deep models
    from livermets.study import predict

    again_summary = predict(out / "models" / "cnn", manifest.path, tmp_path / "via_predict.parquet")
    assert again_summary["rows"] == summary["rows"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "via_predict.parquet"), new)
    clin_card = json.loads((out / "models" / "cnn_clin" / "card.json").read_text())
    assert clin_card["clinical_encoding"] == {"cea": [], "sex": ["M"]}
    predict_deep(out / "models" / "cnn_clin", manifest.path, tmp_path / "clin.csv")
    assert len(pd.read_csv(tmp_path / "clin.csv")) == len(lesions)

    cli = _deep_cli()
    code, output = cli("deep", "embed", out / "models" / "cnn", manifest.path, "--out",
                       tmp_path / "emb.csv", "--json")
    assert code == 0, output
    emb = pd.read_csv(tmp_path / "emb.csv")
    assert len(emb) == len(lesions) and emb.filter(like="deep_cnn_").shape[1] > 0
    code, output = cli("deep", "predict", out / "models" / "logit", manifest.path, "--out",
                       tmp_path / "x.csv")
    assert code == 2 and "not a deep model" in output


def test_deep_model_needs_images(tmp_path):
    from livermets.deep.study import run_deep_models

    config = config_from_dict({"data": {"features": "f.csv"}, "models": [{"name": "a"}],
                               "deep": [{"name": "b"}]})
    with pytest.raises(ConfigError, match="manifest"):
        run_deep_models(config, None, [], np.arange(0), tmp_path)
