"""validation.design three_way: fit on train, choose on validation, test rows used once."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.study import register
from livermets.errors import ConfigError, DataError, LivermetsError
from livermets.models.threeway import fit_three_way, three_way_split
from livermets.models.validation import Tuning, youden_threshold
from livermets.pipeline import run_study
from livermets.study.config import load_config
from livermets.study.data import build_feature_data, read_table
from livermets.study.splits import data_splits
from tests.study.conftest import write_config, write_table

MODELS = [{"name": "lr", "select": "anova", "select_params": {"k": 3}, "classifier": "logistic"}]
QUIET = {"shap": False, "permutation": False}


def three_way_table(folder, n_patients=36):
    """The shared toy table with a train / validation / test column (18 / 9 / 9 patients)."""
    path = write_table(folder / "features.csv.gz", n_patients=n_patients)
    table = pd.read_csv(path)
    number = table["patient_id"].str[1:].astype(int)
    table["split"] = np.where(number < 18, "train", np.where(number < 27, "validation", "test"))
    table.to_csv(path, index=False)
    return table


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One three-way study run on the toy table."""
    folder = tmp_path_factory.mktemp("three_way")
    three_way_table(folder)
    config = write_config(folder, models=MODELS, explain=QUIET,
                          validation={"design": "three_way", "bootstrap": 100})
    return folder, run_study(config, folder / "out")


def test_three_splits_reported_separately(finished):
    folder, _ = finished
    metrics = json.loads((folder / "out" / "metrics.json").read_text())
    assert metrics["design"] == "three_way"
    assert set(metrics["models"]["lr"]["splits"]) == {"train", "validation", "test"}
    counts = {role: m["n_patients"] for role, m in metrics["three_way"]["splits"].items()}
    assert counts == {"train": 18, "validation": 9, "test": 9}
    # 9 test patients, one lesion for even ids and two for odd ids: 4 x 1 + 5 x 2 = 14 lesions
    assert metrics["models"]["lr"]["splits"]["test"]["n_cases"] == 14
    html = (folder / "out" / "report.html").read_text()
    assert "three_way hold-out" in html and "validation 9 patients" in html
    splits = pd.read_parquet(folder / "out" / "splits.parquet")
    assert splits.groupby("role")["patient_id"].nunique().to_dict() == counts
    assert splits["patient_id"].is_unique  # every patient in exactly one split


def test_test_rows_are_predicted_once_by_the_model_chosen_on_validation(finished):
    folder, result = finished
    pred = result.predictions
    test = pred[pred["split"] == "test"]
    assert len(test) == 14 and test.groupby(["patient_id", "lesion_id"]).size().max() == 1
    thresholds = pd.read_parquet(folder / "out" / "thresholds.parquet")
    assert len(thresholds) == 1  # one cut-off per model, used for every split
    cut = float(thresholds["threshold"].iloc[0])
    val = pred[pred["split"] == "validation"]
    truth = (val["y_true"] == "metastasis").astype(int).to_numpy()
    assert cut == youden_threshold(truth, val["y_prob"].to_numpy())
    card = json.loads((folder / "out" / "models" / "lr" / "card.json").read_text())
    assert card["threshold"] == cut
    assert card["training"]["n_patients"] == 18
    # the operating point on test uses the validation cut-off
    called = (test["y_prob"] >= cut) == (test["y_true"] == "metastasis")
    accuracy = result.metrics["models"]["lr"]["splits"]["test"]["youden"]["accuracy"]["value"]
    assert accuracy == pytest.approx(called.mean())


def test_test_rows_never_reach_the_fit_or_the_choice(finished):
    folder, _ = finished
    config = load_config(folder / "study.yaml")
    table = read_table(folder / "features.csv.gz")
    data = build_feature_data(table, config)
    split = data_splits(config, data)
    tuning = Tuning(trials=4, inner_folds=2)
    spec = config.models[0].model_copy(update={"select_params": {}})
    base = fit_three_way(spec, data, split, tuning, 5)
    # scramble every test row (features and labels): fit, choice and cut-off stay the same
    rng = np.random.default_rng(0)
    data.X.iloc[split.test] = rng.normal(size=(split.test.size, data.X.shape[1])) * 50
    data.y[split.test] = 1 - data.y[split.test]
    scrambled = fit_three_way(spec, data, split, tuning, 5)
    assert scrambled.fit.threshold == base.fit.threshold
    assert scrambled.fit.spec == base.fit.spec
    assert np.array_equal(scrambled.outcomes[1].prob, base.outcomes[1].prob)
    assert not np.array_equal(scrambled.outcomes[2].prob, base.outcomes[2].prob)
    assert base.trials["value"].notna().sum() == 4  # four configurations scored on validation


def _config(folder, **validation):
    return write_config(folder, models=MODELS, explain=QUIET,
                        validation={"design": "three_way", "bootstrap": 100, **validation})


@pytest.mark.parametrize(("recode", "message"), [
    ({"P030": "holdout"}, "value(s) ['holdout'] in 1 row(s) (first patients: ['P030'])"),
    ({f"P0{n}": "test" for n in range(18, 27)}, "no validation rows"),
    ({f"P0{n}": "validation" for n in range(27, 36)}, "no test rows"),
])
def test_bad_split_columns_are_refused(tmp_path, recode, message):
    table = three_way_table(tmp_path)
    for pid, value in recode.items():
        table.loc[table["patient_id"] == pid, "split"] = value
    table.to_csv(tmp_path / "features.csv.gz", index=False)
    with pytest.raises(DataError, match=re.escape(message)):
        run_study(_config(tmp_path), tmp_path / "out")
    assert not (tmp_path / "out" / "predictions.parquet").exists()


def test_a_patient_in_two_splits_exits_2_before_any_work(tmp_path):
    table = three_way_table(tmp_path)
    two = table.index[table["patient_id"] == "P001"]  # P001 has two lesions
    table.loc[two[1], "split"] = "test"
    table.to_csv(tmp_path / "features.csv.gz", index=False)
    app = new_app("test")
    register(app)
    result = CliRunner().invoke(app, ["study", "run", str(_config(tmp_path)), "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "patient 'P001' has rows in both the train and the test split" in result.output
    assert not (tmp_path / "out" / "splits.parquet").exists()


def test_manifest_split_column_checked_before_extraction(tmp_path):
    pd.DataFrame({"patient_id": ["A", "B", "C"], "image": ["a.nii.gz"] * 3,
                  "lesion_mask": ["m.nii.gz"] * 3, "label": ["x", "y", "x"],
                  "split": ["train", "validation", "tset"]}).to_csv(tmp_path / "m.csv",
                                                                    index=False)
    config = write_config(tmp_path, data={"manifest": "m.csv"}, models=MODELS,
                          validation={"design": "three_way"})
    with pytest.raises(DataError, match=r"\['tset'\]"):
        run_study(config, tmp_path / "out")
    assert not (tmp_path / "out" / "cache").exists()  # no extraction started


def test_custom_split_names_and_config_errors(tmp_path):
    split = three_way_split(["dev", "tune", "final", "dev"], ["a", "b", "c", "a"],
                            {"train": "dev", "validation": "tune", "test": "final"})
    assert split.train.tolist() == [0, 3] and split.test.tolist() == [2]
    with pytest.raises(ConfigError, match="three different values"):
        load_config(write_config(tmp_path, validation={
            "design": "three_way", "split_names": {"validation": "test"}}))
    with pytest.raises(LivermetsError, match="ensemble: 1"):
        load_config(write_config(tmp_path, validation={
            "design": "three_way", "tuning": {"trials": 3, "ensemble": 2}}))
