"""MRMC against MRMCaov (JSS article docs/jss/MRMCaov.tex, README) and RJafroc on Van Dyke."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from livermets.errors import ConfigError, DataError
from livermets.stats import mrmc, mrmc_data

COLS = {"reader": "reader", "modality": "treatment", "case": "case", "truth": "truth",
        "rating": "rating"}

# (method, cov, analysis) -> (F, df2, p, diff, ci_lower, ci_upper); diff is treatment 1 - 2.
PUBLISHED = {
    # MRMCaov summary(mrmc(empirical_auc(truth, rating), treatment, reader, case, VanDyke));
    # identical to RJafroc StSignificanceTesting(dataset02, "Wilcoxon", "OR") and DBM RRRC.
    ("or", "jackknife", "random"): (4.456319, 15.25967, 0.05166569, -0.04380032, -0.0879594986,
                                    0.0003588544),
    ("or", "delong", "random"): (4.484854, 15.06611, 0.05123303, -0.04380032, -0.0878671960,
                                 0.0002665519),
    ("or", "unbiased", "random"): (4.489614, 15.03418, 0.0511618, -0.04380032, -0.0878519409,
                                   0.0002512968),
    # MRMCaov fixed(reader): X2 5.475953, p 0.01927984, CI -0.08048591 to -0.00711473.
    ("or", "jackknife", "fixed-readers"): (5.475953, float("inf"), 0.01927984, -0.04380032,
                                           -0.08048591, -0.00711473),
    # MRMCaov fixed(case): F 8.704 on 1 and 4 df, p 0.04195875, CI -0.08502022 to -0.00258042.
    ("or", "jackknife", "fixed-cases"): (8.704, 4.0, 0.04195875, -0.04380032, -0.08502022,
                                         -0.00258042),
    ("dbm", "jackknife", "random"): (4.456319, 15.25967, 0.05166569, -0.04380032, -0.0879594986,
                                     0.0003588544),
    # RJafroc DBM FRRC (RJafrocBook, dataset02): p 0.021034969, CI -0.080883031 to -0.0067176131.
    ("dbm", "jackknife", "fixed-readers"): (None, 113.0, 0.021034969, -0.043800322,
                                            -0.080883031, -0.0067176131),
}


@pytest.fixture(scope="module")
def data(vandyke: pd.DataFrame):
    return mrmc_data(vandyke, **COLS)


@pytest.mark.parametrize("key", list(PUBLISHED))
def test_van_dyke_published(data, key: tuple[str, str, str]) -> None:
    f, df2, p, diff, lo, hi = PUBLISHED[key]
    method, cov, analysis = key
    res = mrmc(data, method=method, cov=cov, analysis=analysis)  # type: ignore[arg-type]
    if f is not None:
        assert res.f == pytest.approx(f, abs=5e-7 if f != 8.704 else 5e-4)
    assert res.df2 == pytest.approx(df2, abs=5e-6)
    assert res.p == pytest.approx(p, abs=5e-9)
    assert res.diff == pytest.approx(diff, abs=5e-9)
    assert res.ci == pytest.approx((lo, hi), abs=5e-9)


def test_reader_aucs_and_variance_components(data) -> None:
    # MRMCaov fixed-readers output: single reader AUCs and jackknife OR covariances.
    res = mrmc(data, analysis="fixed-readers")
    assert res.reader_auc.loc["1"].tolist() == pytest.approx(
        [0.9196457, 0.8587762, 0.9038647, 0.9731079, 0.8297907], abs=5e-8)
    assert res.reader_auc.loc["2"].tolist() == pytest.approx(
        [0.9478261, 0.9053140, 0.9217391, 0.9993559, 0.9299517], abs=5e-8)
    comp = res.components
    assert comp["var"] == pytest.approx(0.0008022883, abs=5e-11)
    assert comp["cov1"] == pytest.approx(0.0003466137, abs=5e-11)
    assert comp["cov2"] == pytest.approx(0.0003440748, abs=5e-11)
    assert comp["cov3"] == pytest.approx(0.0002390284, abs=5e-11)


def test_per_modality_ci_matches_rjafroc(data) -> None:
    # RJafroc st1$RRRC$ciAvgRdrEachTrt (OR, dataset02): trt0 SE 0.033173597 DF 12.744648
    # CI 0.82522360-0.96885048; trt1 SE 0.021566368 DF 12.710190 CI 0.89413783-0.98753689.
    out = mrmc(data).to_dict()["modalities"]
    assert out["1"]["auc"] == pytest.approx(0.89703704, abs=5e-9)
    assert out["1"]["se"] == pytest.approx(0.033173597, abs=5e-10)
    assert out["1"]["df"] == pytest.approx(12.744648, abs=5e-7)
    assert out["1"]["ci"] == pytest.approx([0.82522360, 0.96885048], abs=5e-9)
    assert out["2"]["ci"] == pytest.approx([0.89413783, 0.98753689], abs=5e-9)


def test_rjafroc_export_gives_same_result(reference: Path) -> None:
    frame = pd.read_csv(reference / "mrmc_vandyke" / "VanDyke_RJafroc_RocData.csv")
    res = mrmc(mrmc_data(frame, **COLS))
    assert res.f == pytest.approx(4.456319, abs=5e-7)


def test_ratings_not_on_every_case(vandyke: pd.DataFrame) -> None:
    holed = vandyke.drop(index=vandyke.index[:3])
    with pytest.raises(DataError, match="not on every case"):
        mrmc_data(holed, **COLS)


def test_other_bad_input(vandyke: pd.DataFrame) -> None:
    bad = vandyke.copy()
    bad.loc[0, "rating"] = float("nan")
    with pytest.raises(DataError):
        mrmc_data(bad, **COLS)
    with pytest.raises(DataError):
        mrmc_data(vandyke.rename(columns={"rating": "score"}), **COLS)
    flipped = vandyke.copy()
    flipped.loc[0, "truth"] = 1 - flipped.loc[0, "truth"]
    with pytest.raises(DataError):
        mrmc_data(flipped, **COLS)
    with pytest.raises(ConfigError):
        mrmc(mrmc_data(vandyke, **COLS), method="dbm", cov="delong")
