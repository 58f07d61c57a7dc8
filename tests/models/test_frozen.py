"""Frozen models as skops files: every classifier round-trips, foreign types are refused."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from livermets._hashing import file_sha256
from livermets.errors import DataError
from livermets.models.ensemble import SoftVotingEnsemble
from livermets.models.frozen import CARD, MODEL, load_model, save_model
from livermets.models.pipeline import CLASSIFIERS, PipelineSpec, build_pipeline
from tests.models.conftest import make_data

RADIOMICS_CLASSIFIERS = [c for c in CLASSIFIERS if c != "clinical_logit"]


@pytest.mark.parametrize("classifier", RADIOMICS_CLASSIFIERS)
def test_every_classifier_round_trips_with_identical_predictions(classifier, tmp_path):
    data = make_data(n_patients=30)
    spec = PipelineSpec(name="m", classifier=classifier, select="anova",
                        select_params={"k": 5},
                        resample="none" if classifier == "default_search" else "smote")
    pipeline = build_pipeline(spec, seed=0).fit(data.X, data.y)
    save_model(tmp_path, pipeline, {"model": "m"})
    card = json.loads((tmp_path / CARD).read_text())
    assert card["model_file"] == MODEL == "model.skops" and card["model_format"] == "skops"
    loaded = load_model(tmp_path).pipeline
    np.testing.assert_array_equal(loaded.predict_proba(data.X), pipeline.predict_proba(data.X))


def test_an_ensemble_and_a_combined_model_round_trip(tmp_path):
    data = make_data(n_patients=30)
    members = [build_pipeline(PipelineSpec(name=f"m{k}", classifier=c, select="anova",
                                           select_params={"k": 4}), seed=k)
               for k, c in enumerate(["logistic", "random_forest", "naive_bayes"])]
    ensemble = SoftVotingEnsemble(members).fit(data.X, data.y)
    save_model(tmp_path / "e", ensemble, {"model": "e"})
    loaded = load_model(tmp_path / "e").pipeline
    np.testing.assert_array_equal(loaded.predict_proba(data.X), ensemble.predict_proba(data.X))


def test_clinical_and_combined_models_round_trip_without_their_training_rows(tmp_path):
    data = make_data(n_patients=30)
    X = data.X.assign(cea=np.random.default_rng(0).normal(size=len(data.y)),
                      sex_M=(np.arange(len(data.y)) % 2).astype(float))
    base = PipelineSpec(name="b", select="anova", select_params={"k": 3})
    combined = PipelineSpec(name="c", inputs="combined", base=base, classifier="clinical_logit")
    pipeline = build_pipeline(combined, 0, ("cea", "sex_M")).fit(X, data.y)
    save_model(tmp_path, pipeline, {"model": "c"})
    loaded = load_model(tmp_path).pipeline
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    clinical = loaded.named_steps["classifier"].clinical_
    assert clinical.table_["variable"].tolist() == clinical.selected_
    # statsmodels' fit result (which holds every training row) is not part of the model
    assert not any(isinstance(v, pd.DataFrame | pd.Series) for v in vars(clinical).values())


class NotAModel(BaseEstimator):
    """A type no livermets model is made of (as a file from elsewhere could hold)."""

    def __init__(self, payload: str = "x") -> None:
        self.payload = payload


def test_a_file_with_foreign_types_is_refused_before_loading(tmp_path):
    import skops.io as sio

    sio.dump(NotAModel(), tmp_path / MODEL)
    (tmp_path / CARD).write_text(json.dumps({"model_file": MODEL,
                                             "model_sha256": file_sha256(tmp_path / MODEL)}))
    with pytest.raises(DataError, match="NotAModel") as error:
        load_model(tmp_path)
    assert "it is not loaded" in str(error.value)


def test_a_legacy_joblib_folder_still_loads_when_its_hash_matches(tmp_path):
    data = make_data(n_patients=20)
    pipeline = build_pipeline(PipelineSpec(name="m", select="anova", select_params={"k": 3}))
    pipeline.fit(data.X, data.y)
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path)
    (tmp_path / CARD).write_text(json.dumps({"model_file": path.name,
                                             "model_sha256": file_sha256(path)}))
    loaded = load_model(tmp_path).pipeline
    np.testing.assert_array_equal(loaded.predict_proba(data.X), pipeline.predict_proba(data.X))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="does not match the hash"):
        load_model(Path(tmp_path))
