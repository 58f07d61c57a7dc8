"""``livermets lesions`` writes the lesions and patients tables; bad input writes nothing."""

from __future__ import annotations

import json

import pandas as pd

from livermets.lesions import LESION_COLUMNS


def test_lesions_tables(cli, cohort, tmp_path):
    out = tmp_path / "out" / "lesions.parquet"
    code, output = cli("lesions", cohort, "--out", out, "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["n_lesions"] == 4 and summary["n_patients"] == 2
    table = pd.read_parquet(out)
    assert list(table.columns) == LESION_COLUMNS
    assert table["label"].tolist() == ["metastasis", "hemangioma"] * 2
    assert table.groupby("label")["mean_hu"].mean().round(-1).to_dict() == {
        "hemangioma": 140.0,
        "metastasis": 50.0,
    }
    assert pd.read_csv(out.with_suffix(".csv")).shape == table.shape
    patients = pd.read_parquet(tmp_path / "out" / "lesions_patients.parquet")
    assert patients["n_lesions"].tolist() == [2, 2]


def test_min_diameter_drops_small_lesions(cli, cohort, tmp_path):
    out = tmp_path / "lesions.csv"
    code, _ = cli("lesions", cohort, "--out", out, "--min-diameter", "8")
    table = pd.read_csv(out)
    assert code == 0 and len(table) == 2 and (table["diameter_mm"] >= 8).all()


def test_bad_input_exits_2_and_writes_nothing(cli, cohort, tmp_path):
    (cohort.parent / "p2" / "lesions.nii.gz").unlink()
    out = tmp_path / "out" / "lesions.parquet"
    code, output = cli("lesions", cohort, "--out", out)
    assert code == 2
    assert "does not exist" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_duplicate_ids_exit_2(cli, cohort, tmp_path):
    table = pd.read_csv(cohort)
    table["patient_id"] = "same"
    table.to_csv(cohort, index=False)
    code, output = cli("lesions", cohort, "--out", tmp_path / "l.parquet")
    assert code == 2 and "appear more than once" in output
    assert not (tmp_path / "l.parquet").exists()
