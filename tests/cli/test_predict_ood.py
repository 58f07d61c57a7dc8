"""`livermets predict` prints the out-of-distribution summary and writes OUT_ood.csv."""

from __future__ import annotations

import pandas as pd

from tests.models.test_ood import FEATURES, saved_model


def test_predict_warns_about_patients_outside_the_training_data(cli, tmp_path):
    table = saved_model(tmp_path / "model", with_reference=True)
    new = table.iloc[:8].copy()
    shifted = new["patient_id"].isin(["P000", "P001"])
    new.loc[shifted, FEATURES] -= 80.0
    new.to_parquet(tmp_path / "new.parquet")
    code, output = cli("predict", tmp_path / "model", tmp_path / "new.parquet", "--out",
                       tmp_path / "p.parquet")
    assert code == 0, output
    line = " ".join(output.split())
    assert "warning: 2 of 4 patient(s) lie outside the model's training data" in line
    assert "2 of them have extreme probabilities" in line and "p_ood.csv" in line
    ood = pd.read_csv(tmp_path / "p_ood.csv")
    assert ood["ood_flag"].tolist() == [True, True, False, False]
    assert (ood.loc[:1, "min_prob"] < 1e-6).all()
    predictions = pd.read_parquet(tmp_path / "p.parquet")
    assert predictions["ood_flag"].tolist() == [True] * 4 + [False] * 4

    table.to_parquet(tmp_path / "train.parquet")  # the training rows themselves
    code, output = cli("predict", tmp_path / "model", tmp_path / "train.parquet", "--out",
                       tmp_path / "t.csv")
    assert code == 0, output
    assert "none of 30 patient(s) lie outside" in " ".join(output.split())
    assert not pd.read_csv(tmp_path / "t_ood.csv")["ood_flag"].any()


def test_predict_with_an_old_card_notes_that_the_check_could_not_run(cli, tmp_path):
    table = saved_model(tmp_path / "model", with_reference=False)
    table.iloc[:4].to_csv(tmp_path / "new.csv", index=False)
    code, output = cli("predict", tmp_path / "model", tmp_path / "new.csv", "--out",
                       tmp_path / "p.csv")
    assert code == 0, output
    assert "could not run" in " ".join(output.split()) and "wrote" in output
    assert not (tmp_path / "p_ood.csv").exists()
