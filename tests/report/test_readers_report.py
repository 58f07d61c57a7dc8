"""``livermets report readers``: the reader-study section from an exported ratings CSV."""

from __future__ import annotations

import pandas as pd
import pytest

from livermets.readers.simulate import simulate_ratings
from livermets.stats import mrmc, mrmc_data


def test_reader_report_from_simulated_ratings(cli, tmp_path):
    ratings = simulate_ratings(n_readers=4, n_cases=60, auc_without=0.7, auc_with=0.85, seed=1)
    path = tmp_path / "ratings.csv"
    ratings.to_csv(path, index=False)
    code, output = cli("report", "readers", path, "--out", tmp_path / "r", "--synthetic")
    assert code == 0, output
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Reader study" in html and "Synthetic data" in html
    aucs = pd.read_csv(tmp_path / "r" / "tables" / "reader_auc.csv").set_index("reader")
    assert list(aucs.index) == ["R1", "R2", "R3", "R4", "mean"]
    assert aucs.loc["mean", "with-ai"] > aucs.loc["mean", "without-ai"]
    # the section's overall analysis is the statistics layer's OR analysis on the same ratings
    direct = mrmc(
        mrmc_data(
            ratings,
            reader="reader",
            modality="modality",
            case="case",
            truth="truth",
            rating="rating",
        )
    )
    overall = pd.read_csv(tmp_path / "r" / "tables" / "reader_mrmc.csv").iloc[0]
    assert overall["cases"] == "all cases"
    assert overall["p"] == float(f"{direct.p:.3g}")  # printed to 3 significant digits
    assert abs(overall["auc_a"] - overall["auc_b"]) == pytest.approx(abs(direct.diff), abs=2e-3)


def test_reader_report_missing_file_exits_2(cli, tmp_path):
    code, output = cli("report", "readers", tmp_path / "none.csv", "--out", tmp_path / "r")
    assert code == 2 and "does not exist" in output
    assert not (tmp_path / "r").exists()
