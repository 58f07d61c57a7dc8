"""A simulated reader study where AI raises every reader's AUC by 0.10, analysed by OR MRMC, and
the report section built from it."""

from __future__ import annotations

import pandas as pd
import pytest

from livermets.readers import simulate_ratings
from livermets.readers.simulate import binormal_auc, separation_for_auc
from livermets.report import Report
from livermets.report.readers import add_reader_sections
from livermets.stats import mrmc, mrmc_data


def test_binormal_inverse():
    """separation_for_auc inverts binormal_auc."""
    for auc in (0.6, 0.75, 0.9):
        assert binormal_auc(separation_for_auc(auc)) == pytest.approx(auc)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mrmc_recovers_the_known_ai_effect(seed):
    """AUC 0.75 -> 0.85 by design: MRMC finds a positive, significant gain near 0.10."""
    ratings = simulate_ratings(n_readers=5, n_cases=200, auc_without=0.75, auc_with=0.85,
                               seed=seed)
    data = mrmc_data(ratings, reader="reader", modality="modality", case="case",
                     truth="truth", rating="rating")
    result = mrmc(data, method="or", cov="jackknife", analysis="random")
    means = result.reader_auc.mean(axis=1)
    assert means["without-ai"] == pytest.approx(0.75, abs=0.04)
    assert means["with-ai"] == pytest.approx(0.85, abs=0.04)
    comp = result.comparisons[0]
    assert (comp.modality_a, comp.modality_b) == ("with-ai", "without-ai")
    assert comp.diff == pytest.approx(0.10, abs=0.03)
    assert comp.ci[0] < 0.10 < comp.ci[1] and comp.ci[0] > 0
    assert comp.p < 0.05


def test_no_effect_is_not_significant():
    """Equal AUCs by design: the difference is near 0 and the CI covers 0."""
    ratings = simulate_ratings(auc_without=0.8, auc_with=0.8, seed=3)
    data = mrmc_data(ratings, reader="reader", modality="modality", case="case",
                     truth="truth", rating="rating")
    comp = mrmc(data).comparisons[0]
    assert abs(comp.diff) < 0.04 and comp.ci[0] < 0 < comp.ci[1]


def test_report_section(tmp_path):
    """The section holds reader AUCs, overall and per-size MRMC and reading times."""
    ratings = simulate_ratings(seed=0)
    report = add_reader_sections(Report("reader study"), ratings, tmp_path)
    html = report.render()
    assert "Reader study" in html and "data:image/png;base64" in html
    mrmc_table = pd.read_csv(tmp_path / "tables" / "reader_mrmc.csv")
    assert mrmc_table["cases"].tolist() == ["all cases", "size 10-30 mm", "size <=10 mm",
                                            "size >30 mm"]
    assert (mrmc_table["difference"] > 0).all()
    aucs = pd.read_csv(tmp_path / "tables" / "reader_auc.csv")
    assert aucs["reader"].tolist() == ["R1", "R2", "R3", "R4", "R5", "mean"]
    times = pd.read_csv(tmp_path / "tables" / "reading_times.csv")
    with_ai = times[times["modality"] == "with-ai"]["median_s"].median()
    without = times[times["modality"] == "without-ai"]["median_s"].median()
    assert with_ai < without  # simulated: 32 s vs 40 s median
