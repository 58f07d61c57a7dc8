"""A study that starts from a cohort manifest: radiomics through the radiomics stage."""

from __future__ import annotations

import json

import pandas as pd

from livermets.pipeline import run_study
from livermets.study import predict
from livermets.study.demo import demo_config
from tests.helpers import make_cohort


def test_manifest_study_extracts_features_and_predict_reextracts_them(tmp_path):
    manifest = make_cohort(tmp_path / "cohort", n=6)
    config = demo_config(manifest, seed=1).model_copy(update={
        "models": demo_config(manifest).models[:1],
        "validation": demo_config(manifest).validation.model_copy(update={"folds": 2}),
        "explain": demo_config(manifest).explain.model_copy(update={"shap": False,
                                                                    "permutation": False}),
    })
    result = run_study(config, tmp_path / "out")
    features = pd.read_parquet(tmp_path / "out" / "features.parquet")
    assert len(features) == 12 and features["lesion_id"].nunique() == 2
    assert any(c.startswith("original_glcm_") for c in features.columns)
    assert set(result.predictions["y_true"]) == {"metastasis", "hemangioma"}
    card = json.loads((result.finals["lasso_logistic"].folder / "card.json").read_text())
    assert card["radiomics"]["params_hash"] == features["params_hash"].iloc[0]
    assert (result.finals["lasso_logistic"].folder / "radiomics_params.yaml").is_file()
    summary = predict(result.finals["lasso_logistic"].folder, manifest, tmp_path / "p.parquet")
    assert summary["rows"] == 12 and summary["patients"] == 6
    again = run_study(config, tmp_path / "out")
    assert "cv:lasso_logistic" in again.cache_hits
