"""A deep model next to a classical one in a study; the frozen model on a manifest; the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError
from livermets.study.config import config_from_dict

DEEP_GRADCAM = 2
DEEP = {"name": "cnn", "crops": {"size": 24, "max_slices": 2},
        "network": {"backbone": "densenet_tiny"},
        "train": {"epochs": 2, "batch_size": 16, "threads": 1}, "gradcam": DEEP_GRADCAM}


def _config(manifest, features, **extra):
    return config_from_dict({
        "name": "deep_test", "seed": 1, "synthetic": True,
        "data": {"features": str(features), "positive": "metastasis",
                 "clinical": ["cea", "sex"]},
        "models": [{"name": "logit", "select": "none", "redundancy": None}],
        "deep": [{**DEEP, "manifest": str(manifest.path), "embeddings_for": ["logit"]},
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
    from livermets.pipeline import run_study

    manifest, lesions = synth_cohort
    features = tmp_path / "features.csv"
    lesions[["patient_id", "lesion_id", "label", "size_group", "diameter_mm", "mean_hu",
             "sd_hu"]].merge(manifest.table[["patient_id", "cea", "sex"]].astype(
                 {"patient_id": str}), on="patient_id").to_csv(features, index=False)
    out = tmp_path / "study"
    result = run_study(_config(manifest, features), out)
    pred = pd.read_parquet(out / "predictions.parquet")
    assert set(pred["model"]) == {"logit", "cnn", "cnn_clin", "logit_on_cnn"}
    a = pred[pred.model == "logit"].sort_values(["patient_id", "lesion_id"])
    for model in ("cnn", "logit_on_cnn"):
        b = pred[pred.model == model].sort_values(["patient_id", "lesion_id"])
        assert a[["patient_id", "lesion_id", "fold"]].to_numpy().tolist() == \
            b[["patient_id", "lesion_id", "fold"]].to_numpy().tolist()
    b = pred[pred.model == "cnn"].sort_values(["patient_id", "lesion_id"])
    assert b["y_prob"].between(0, 1).all() and b["y_prob"].nunique() > 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert "cnn" in metrics["models"]
    html = (out / "report.html").read_text()
    assert "cnn" in html
    # the Grad-CAM gallery of each deep model, next to the model table
    assert "Deep models: Grad-CAM and embeddings" in html and "Grad-CAM of cnn_clin" in html
    assert html.index("Deep models: Grad-CAM") < html.index("ROC curves")
    shown = pd.read_csv(out / "deep" / "cnn" / "gradcam.csv")
    assert (out / "deep" / "cnn" / "gradcam.png").read_bytes()[:4] == b"\x89PNG"
    assert set(shown["verdict"]) <= {"right", "wrong"} and len(shown) >= 2
    assert ((shown["verdict"] == "right") == (shown["true"] == shown["pred"])).all()
    assert shown.groupby(["true", "verdict"]).size().max() <= DEEP_GRADCAM
    assert metrics["models"]["logit_on_cnn"]["splits"]["cv"]["auc"]["auc"] > 0
    _assert_cnn_never_saw_its_test_fold(out, "cnn")
    card = json.loads((out / "models" / "cnn" / "card.json").read_text())
    assert card["kind"] == "deep" and card["synthetic"] is True
    assert result.metrics["models"]["cnn"]
    # finished folds keep their outcomes, not their checkpoints (weights + optimiser state)
    assert list((out / "cache").rglob("*.joblib"))
    assert not list((out / "cache").rglob("*.pt"))
    # re-running reuses the cached folds
    again = run_study(_config(manifest, features), out)
    assert again.predictions.equals(result.predictions)

    from livermets.deep.demo import run_demo_cnn
    from livermets.report import Report
    from livermets.report.deep import draw_demo_cnn

    report = Report("t", synthetic=True)
    cnn_result = run_demo_cnn(manifest.path, out, seed=0, workers=1, spec={
        "crops": {"size": 24, "max_slices": 2}, "network": {"backbone": "densenet_tiny"},
        "train": {"epochs": 1}})
    draw_demo_cnn(report.section("deep_cnn", "CNN on lesion crops vs radiomics"), cnn_result)
    table = cnn_result.table
    assert cnn_result.n_folds >= 2 and cnn_result.reused_folds == 0
    assert table["model"].tolist()[:2] == ["densenet121_cnn", "logit"]
    assert len(table) == 5  # the CNN against logit, cnn, cnn_clin and logit_on_cnn
    assert table["AUC"].between(0, 1).all() and "DeLong p" in table
    assert "CNN on lesion crops" in report.render()
    assert (out / "deep" / "predictions_cnn.parquet").is_file()

    summary = predict_deep(out / "models" / "cnn", manifest.path, tmp_path / "new.parquet")
    new = pd.read_parquet(tmp_path / "new.parquet")
    assert summary["rows"] == len(lesions) == len(new)
    # predicted in the card's precision (the one validated), whatever this CPU supports
    card = json.loads((out / "models" / "cnn" / "card.json").read_text())
    assert card["precision"] in ("fp32", "bf16") and summary["precision"] == card["precision"]
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


def _assert_cnn_never_saw_its_test_fold(out, name):
    """Per outer fold: the patients whose crops trained the fold's CNN (which embedded the fold's
    rows) and the fold's test patients are disjoint."""
    splits = pd.read_parquet(out / "splits.parquet")
    trained = pd.read_parquet(out / "deep" / name / "training_patients.parquet")
    folds = splits.groupby(["repeat", "fold", "kind"])
    assert len(trained.groupby(["repeat", "fold", "split"])) == len(folds) > 1
    for (repeat, fold, kind), group in folds:
        cnn = set(trained.loc[(trained["repeat"] == repeat) & (trained["fold"] == fold)
                              & (trained["split"] == kind), "patient_id"])
        test = set(group.loc[group["role"] == "test", "patient_id"].astype(str))
        train = set(group.loc[group["role"] == "train", "patient_id"].astype(str))
        assert cnn and test and not cnn & test
        assert cnn <= train


def test_embeddings_for_classical_models_are_out_of_fold(synth_cohort, tmp_path, monkeypatch):
    """Spy on training and embedding: in every outer fold, the CNN that embeds the test rows was
    trained on lesions of that fold's training patients only (never a test patient)."""
    import livermets.deep.study as deep_study
    from livermets.pipeline import run_study

    manifest, lesions = synth_cohort
    features = tmp_path / "features.csv"
    lesions[["patient_id", "lesion_id", "label", "mean_hu", "sd_hu"]].to_csv(features,
                                                                            index=False)
    trained_on, embedded = {}, []
    real_train, real_embed = deep_study.train_lesion_model, deep_study.embed_crops

    def spy_train(crops, *args, **kwargs):
        result = real_train(crops, *args, **kwargs)
        # keyed by the model object's id; the model is kept so that its id is not reused
        trained_on[id(result.model)] = (result.model, set(crops.meta["patient_id"].astype(str)))
        return result

    def spy_embed(model, crops, *args, **kwargs):
        embedded.append((id(model), set(crops.meta["patient_id"].astype(str))))
        return real_embed(model, crops, *args, **kwargs)

    monkeypatch.setattr(deep_study, "train_lesion_model", spy_train)
    monkeypatch.setattr(deep_study, "embed_crops", spy_embed)
    config = config_from_dict({
        "name": "leak", "seed": 2, "synthetic": True,
        "data": {"features": str(features), "positive": "metastasis"},
        "models": [{"name": "logit", "select": "none", "redundancy": None}],
        "deep": [{**DEEP, "crops": {"size": 16, "max_slices": 1}, "train": {
            **DEEP["train"], "epochs": 1}, "final_model": False, "gradcam": 1,
            "manifest": str(manifest.path), "embeddings_for": ["logit"]}],
        "validation": {"folds": 3, "bootstrap": 100},
        "explain": {"shap": False, "permutation": False},
    })
    result = run_study(config, tmp_path / "out")
    folds = [f for f in result.folds if f.split == "cv"]
    assert len(embedded) == len(folds) == 3
    for fold, (model, patients) in zip(folds, embedded, strict=True):
        test = set(result.data.patient_id[fold.test].astype(str))
        train = set(result.data.patient_id[fold.train].astype(str))
        assert test <= patients  # this CNN embedded the fold's test rows ...
        cnn_patients = trained_on[model][1]
        assert cnn_patients and not cnn_patients & test  # ... and never saw them
        assert cnn_patients <= train
    pred = result.predictions[result.predictions["model"] == "logit_on_cnn"]
    assert len(pred) == len(result.data.y) and pred["y_prob"].between(0, 1).all()
    _assert_cnn_never_saw_its_test_fold(tmp_path / "out", "cnn")


def test_embedding_guard_refuses_a_cnn_that_saw_the_test_patients(crops_2d):
    from livermets.deep.study import fold_embeddings
    from livermets.errors import DataError
    from livermets.models.validation import Fold

    patients = crops_2d.meta["patient_id"].astype(str).to_numpy()
    fold = Fold(0, 0, np.arange(0, len(patients), 2), np.arange(1, len(patients), 2))
    with pytest.raises(DataError, match="trained on them"):
        fold_embeddings(None, crops_2d, np.arange(len(patients)), fold,
                        np.unique(patients), patients)


def test_embeddings_for_must_name_a_radiomics_model():
    base = {"data": {"features": "f.csv"}, "models": [{"name": "logit"}]}
    with pytest.raises(ConfigError, match="not one of the models"):
        config_from_dict({**base, "deep": [{"name": "cnn", "embeddings_for": ["svm"]}]})
    with pytest.raises(ConfigError, match="already taken"):
        config_from_dict({**base, "models": [{"name": "logit"}, {"name": "logit_on_cnn"}],
                          "deep": [{"name": "cnn", "embeddings_for": ["logit"]}]})
    with pytest.raises(ConfigError, match="inputs: image"):
        config_from_dict({**base, "deep": [{"name": "cnn", "inputs": "image+clinical",
                                            "embeddings_for": ["logit"]}]})


def test_deep_model_needs_images(tmp_path):
    from livermets.deep.study import run_deep_models

    config = config_from_dict({"data": {"features": "f.csv"}, "models": [{"name": "a"}],
                               "deep": [{"name": "b"}]})
    with pytest.raises(ConfigError, match="manifest"):
        run_deep_models(config, None, [], np.arange(0), tmp_path)
