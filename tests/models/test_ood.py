"""Out-of-distribution check of a frozen model's inputs: training reference, per-row columns,
per-patient table, and a model card saved before the reference existed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from livermets.models.frozen import save_model
from livermets.models.ood import (
    REFERENCE_KEY,
    ood_message,
    ood_rows,
    patient_ood,
    training_reference,
)
from livermets.models.pipeline import PipelineSpec, build_pipeline
from livermets.study.predict import predict
from tests.models.conftest import make_data

FEATURES = ["signal", "signal_copy", *[f"noise_{i}" for i in range(15)]]


def feature_table(seed: int = 0) -> pd.DataFrame:
    """make_data's rows as a lesion feature table with spacing and an intensity column."""
    data = make_data(n_patients=30, seed=seed)
    table = data.X.assign(patient_id=data.patient_id, lesion_id=data.lesion_id, label=data.y,
                          spacing_z_mm=np.where(np.arange(len(data.y)) % 2, 2.5, 5.0),
                          original_firstorder_Mean=np.linspace(40, 120, len(data.y)))
    return table


def test_training_rows_are_never_flagged_and_the_reference_is_plain_json():
    table = feature_table()
    reference = training_reference(table, FEATURES)
    json.dumps(reference, allow_nan=False)  # plain JSON for the card
    assert set(reference["features"]) == set(FEATURES)
    assert set(reference["acquisition"]) == {"spacing_z_mm", "original_firstorder_Mean"}
    spacing = reference["acquisition"]["spacing_z_mm"]
    assert (spacing["min"], spacing["max"]) == (2.5, 5.0)
    signal = reference["features"]["signal"]
    assert signal["min"] == table["signal"].min() and signal["sd"] == pytest.approx(
        table["signal"].std(ddof=1))
    assert signal["min"] <= signal["p0_5"] < signal["p99_5"] <= signal["max"]
    rows = ood_rows(reference, table, ["signal"])
    assert not rows["ood_flag"].any()
    assert rows["ood_n_features_out"].sum() == 0 and rows["ood_max_sd"].max() == 0
    assert (rows["ood_n_features"] == len(FEATURES)).all()


def test_a_shifted_table_is_flagged_with_names_and_distances_in_training_sds():
    table = feature_table()
    reference = training_reference(table, FEATURES)
    stats = reference["features"]["signal"]
    new = table.iloc[:4].copy().reset_index(drop=True)
    new.loc[0, "signal"] = stats["max"] + 3 * stats["sd"]  # 3 SD above the training maximum
    new.loc[1, FEATURES] = table[FEATURES].max().to_numpy() + 50 * table[FEATURES].std().to_numpy()
    new.loc[2, "spacing_z_mm"] = 0.7  # thinner slices than any training scan
    rows = ood_rows(reference, new, ["signal"])
    assert rows["ood_n_features_out"].tolist() == [1, len(FEATURES), 0, 0]
    assert rows.loc[0, "ood_max_sd"] == pytest.approx(3.0)
    assert rows.loc[0, "ood_features_out"] == "signal (3.0 SD)"
    assert rows.loc[1, "ood_max_sd"] == pytest.approx(50.0, rel=1e-6)
    assert rows.loc[1, "ood_features_out"].endswith(" ...")  # 17 out, 10 shown
    assert rows.loc[2, "ood_spacing_out"].startswith("spacing_z_mm (")
    assert rows["ood_flag"].tolist() == [True, True, True, False]


def test_patients_table_counts_flagged_rows_and_extreme_probabilities():
    rows = pd.DataFrame({
        "patient_id": ["P1", "P1", "P2", "P3"], "y_prob": [1e-58, 0.4, 0.5, 1 - 1e-9],
        "ood_n_features_out": [12, 0, 0, 0], "ood_n_features": 17,
        "ood_n_selected_out": [1, 0, 0, 0],
        "ood_max_sd": [40.0, 0.0, 0.0, 0.0], "ood_features_out": ["signal (40.0 SD)", "", "", ""],
        "ood_spacing_out": ["", "", "", ""], "ood_acquisition_out": "",
        "ood_flag": [True, False, False, False],
    })
    patients = patient_ood(rows)
    assert patients["patient_id"].tolist() == ["P1", "P2", "P3"]
    assert patients["n_rows"].tolist() == [2, 1, 1]
    assert patients["n_rows_flagged"].tolist() == [1, 0, 0]
    assert patients["ood_flag"].tolist() == [True, False, False]
    assert patients["extreme_prob"].tolist() == [True, False, True]
    assert patients.loc[0, "ood_features_out"] == "signal (40.0 SD)"
    message = ood_message(patients, "x_ood.csv")
    assert message.startswith("warning: 1 of 3 patient(s) lie outside the model's training data "
                              "(0 by voxel spacing); 1 of them have extreme probabilities")
    calm = ood_message(patients.assign(ood_flag=False), "x_ood.csv")
    assert calm.startswith("out-of-distribution check: none of 3 patient(s)")


def saved_model(folder, with_reference: bool) -> pd.DataFrame:
    """A logistic model saved with a card like the study runner's; returns its training table."""
    table = feature_table()
    data = make_data(n_patients=30)
    spec = PipelineSpec(name="m", select="anova", select_params={"k": 3}, classifier="logistic")
    pipeline = build_pipeline(spec, seed=0).fit(data.X, data.y)
    card = {"model": "m", "level": "lesion", "classes": [0, 1], "positive": "1",
            "patient_column": "patient_id", "id_column": "lesion_id", "input_columns": FEATURES,
            "radiomics_features": FEATURES, "clinical_encoding": {}, "threshold": 0.5,
            "selected_features": ["signal", "signal_copy", "noise_3"]}
    if with_reference:
        card[REFERENCE_KEY] = training_reference(table, FEATURES)
    save_model(folder, pipeline, card)
    return table


def test_predict_writes_ood_columns_and_table(tmp_path):
    table = saved_model(tmp_path / "model", with_reference=True)
    new = table.iloc[:6].copy()
    new.loc[new["patient_id"] == "P000", FEATURES] += 100.0  # far outside every training range
    new.to_csv(tmp_path / "new.csv", index=False)
    summary = predict(tmp_path / "model", tmp_path / "new.csv", tmp_path / "p.csv")
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert predictions.loc[predictions["patient_id"] == "P000", "ood_flag"].all()
    assert not predictions.loc[predictions["patient_id"] != "P000", "ood_flag"].any()
    assert (predictions.loc[:1, "ood_n_features_out"] == len(FEATURES)).all()
    ood = pd.read_csv(tmp_path / "p_ood.csv")
    assert ood["patient_id"].tolist() == ["P000", "P001", "P002"]
    assert ood["ood_flag"].tolist() == [True, False, False]
    assert bool(ood.loc[0, "extreme_prob"]) and ood.loc[0, "max_prob"] > 1 - 1e-6
    assert not ood.loc[1:, "extreme_prob"].any()
    assert summary["ood"]["patients_flagged"] == 1 and summary["ood"]["patients_extreme"] >= 1
    assert summary["ood"]["message"].startswith("warning: 1 of 3 patient(s)")


def test_a_card_without_reference_still_predicts_with_a_note(tmp_path):
    table = saved_model(tmp_path / "model", with_reference=False)
    table.iloc[:4].to_csv(tmp_path / "new.csv", index=False)
    summary = predict(tmp_path / "model", tmp_path / "new.csv", tmp_path / "p.csv")
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert len(predictions) == 4 and predictions["y_prob"].between(0, 1).all()
    assert not any(c.startswith("ood_") for c in predictions.columns)
    assert not (tmp_path / "p_ood.csv").exists()
    assert "could not run" in summary["ood"]["message"]


def test_an_input_without_spacing_columns_is_checked_on_features_with_a_note(tmp_path):
    table = saved_model(tmp_path / "model", with_reference=True)
    table.iloc[:4].drop(columns=["spacing_z_mm"]).to_csv(tmp_path / "new.csv", index=False)
    summary = predict(tmp_path / "model", tmp_path / "new.csv", tmp_path / "p.csv")
    assert summary["ood"]["spacing_unchecked"] == ["spacing_z_mm"]
    assert "Voxel spacing not checked" in summary["ood"]["message"]
    assert summary["ood"]["patients_flagged"] == 0
    assert (pd.read_csv(tmp_path / "p.csv")["ood_spacing_out"].isna()).all()
