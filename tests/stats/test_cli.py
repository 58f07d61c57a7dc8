"""The ``livermets stats`` commands on the reference CSVs, via typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livermets.cli.main import app

runner = CliRunner()


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, ["stats", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_roc(reference: Path) -> None:
    out = _json(["roc", "--csv", str(reference / "proc_asah" / "aSAH.csv"), "--truth", "outcome",
                 "--score", "s100b", "--positive", "Poor"])
    assert {"auc", "ci", "ci_method", "variance", "n_pos", "n_neg"} <= set(out)
    assert out["auc"] == pytest.approx(0.7314, abs=5e-5)
    assert out["ci"] == pytest.approx([0.6301, 0.8326], abs=5e-5)
    boot = _json(["roc", "--csv", str(reference / "proc_asah" / "aSAH.csv"), "--truth",
                  "outcome", "--score", "s100b", "--positive", "Poor", "--ci", "bootstrap",
                  "--n-boot", "500", "--seed", "3"])
    assert boot["ci_method"] == "bootstrap-percentile"


def test_delong(reference: Path) -> None:
    out = _json(["delong", "--csv", str(reference / "proc_asah" / "aSAH.csv"), "--truth",
                 "outcome", "--score-a", "wfns", "--score-b", "s100b", "--positive", "Poor"])
    assert {"auc_a", "auc_b", "diff", "ci", "z", "p"} <= set(out)
    assert out["z"] == pytest.approx(2.20898359144091, rel=1e-9)
    unpaired = _json(["delong", "--csv", str(reference / "proc_asah" / "aSAH.csv"), "--truth",
                      "outcome", "--score-a", "wfns", "--score-b", "s100b", "--positive",
                      "Poor", "--unpaired"])
    assert unpaired["p"] == pytest.approx(0.152825378808796, rel=1e-9)


def test_threshold(reference: Path) -> None:
    out = _json(["threshold", "--csv", str(reference / "proc_asah" / "aSAH.csv"), "--truth",
                 "outcome", "--score", "s100b", "--positive", "Poor", "--method", "youden"])
    for key in ["sensitivity", "specificity", "accuracy", "ppv", "npv"]:
        assert {"value", "ci"} <= set(out[key])
    assert out["threshold"] == pytest.approx(0.205)
    assert out["specificity"]["value"] == pytest.approx(0.8055556, abs=5e-8)


def test_calibration_and_dca(reference: Path) -> None:
    csv = str(reference / "dcurves" / "df_binary.csv")
    cal = _json(["calibration", "--csv", csv, "--truth", "cancer", "--prob", "cancerpredmarker"])
    assert {"intercept", "slope", "brier", "oe_ratio", "hosmer_lemeshow"} <= set(cal)
    assert {"chi2", "df", "p"} <= set(cal["hosmer_lemeshow"])
    dca = _json(["dca", "--csv", csv, "--truth", "cancer", "--prob", "cancerpredmarker"])
    k = dca["thresholds"].index(0.25)
    assert dca["net_benefit"]["model"][k] == pytest.approx(0.064, abs=1e-9)
    surv = _json(["dca", "--csv", str(reference / "dcurves" / "df_surv.csv"), "--prob",
                  "cancerpredmarker", "--time", "ttcancer", "--event", "cancer", "--horizon",
                  "1", "--thresholds", "0.25:0.25:0.01"])
    assert surv["net_benefit"]["model"][0] == pytest.approx(0.05695371, abs=1e-8)
    cc = _json(["dca", "--csv", str(reference / "dcurves" / "df_case_control.csv"), "--truth",
                "casecontrol", "--prob", "cancerpredmarker", "--prevalence", "0.15"])
    assert cc["net_benefit"]["model"][25] == pytest.approx(0.01495671, abs=1e-8)


def test_survival_commands(reference: Path) -> None:
    aml = str(reference / "survival" / "aml.csv")
    km = _json(["km", "--csv", aml, "--time", "time", "--event", "status", "--group", "x"])
    assert km["groups"]["Maintained"]["median"] == 31
    assert {"time", "survival", "ci_lower", "ci_upper", "median"} <= set(km["groups"]["Maintained"])
    assert km["logrank"]["chi2"] == pytest.approx(3.4, abs=0.05)
    c = _json(["cindex", "--csv", str(reference / "survival" / "lung.csv"), "--time", "time",
               "--event", "status", "--score", "age"])
    assert {"c_index", "concordant", "discordant", "tied_risk", "tied_time"} <= set(c)


def test_mrmc(reference: Path) -> None:
    out = _json(["mrmc", "--csv", str(reference / "mrmc_vandyke" / "VanDyke_MRMCaov.csv"),
                 "--reader", "reader", "--modality", "treatment", "--case", "case", "--truth",
                 "truth", "--rating", "rating", "--cov", "delong"])
    assert {"modalities", "diff", "ci", "f", "df1", "df2", "p", "method", "cov",
            "analysis"} <= set(out)
    assert out["f"] == pytest.approx(4.484854, abs=5e-7)
    assert out["modalities"]["1"]["reader_auc"]["1"] == pytest.approx(0.9196457, abs=5e-8)


def test_tables_print_without_json(reference: Path) -> None:
    result = runner.invoke(app, ["stats", "roc", "--csv",
                                 str(reference / "proc_asah" / "aSAH.csv"), "--truth", "outcome",
                                 "--score", "s100b", "--positive", "Poor"])
    assert result.exit_code == 0 and "0.7314" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["roc", "--truth", "outcome", "--score", "nope", "--positive", "Poor"],
        ["roc", "--truth", "outcome", "--score", "s100b"],
        ["roc", "--truth", "outcome", "--score", "s100b", "--positive", "Excellent"],
        ["threshold", "--truth", "outcome", "--score", "s100b", "--positive", "Poor",
         "--method", "best"],
        ["dca", "--prob", "s100b", "--time", "age"],
    ],
)
def test_user_errors_exit_2(reference: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["stats", args[0], "--csv",
                                 str(reference / "proc_asah" / "aSAH.csv"), *args[1:]])
    assert result.exit_code == 2
    assert "Error:" in result.output and "Traceback" not in result.output


def test_nan_scores_and_missing_file(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("y,s\n0,0.1\n1,\n0,0.3\n1,0.9\n")
    result = runner.invoke(app, ["stats", "roc", "--csv", str(csv), "--truth", "y", "--score", "s"])
    assert result.exit_code == 2 and "missing" in result.output
    result = runner.invoke(app, ["stats", "roc", "--csv", str(tmp_path / "no.csv"), "--truth",
                                 "y", "--score", "s"])
    assert result.exit_code == 2 and "not found" in result.output


def test_mrmc_incomplete_design(tmp_path: Path, reference: Path) -> None:
    lines = (reference / "mrmc_vandyke" / "VanDyke_MRMCaov.csv").read_text().splitlines()
    csv = tmp_path / "holes.csv"
    csv.write_text("\n".join(lines[:1] + lines[5:]) + "\n")
    result = runner.invoke(app, ["stats", "mrmc", "--csv", str(csv), "--reader", "reader",
                                 "--modality", "treatment", "--case", "case", "--truth", "truth",
                                 "--rating", "rating"])
    assert result.exit_code == 2 and "not on every case" in result.output
