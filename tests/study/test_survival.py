"""Survival variant: Cox on clinical + rad-score, risk groups, C-index and log-rank."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from livermets.pipeline import run_study
from livermets.study.survival import survival_analysis
from tests.study.conftest import write_config, write_table


def test_cox_risk_groups_on_development_and_external_centre(tmp_path):
    write_table(tmp_path / "features.csv.gz", n_patients=40)
    table = pd.read_csv(tmp_path / "features.csv.gz").drop_duplicates("patient_id")
    rng = np.random.default_rng(0)
    risk = table["original_firstorder_F0"] + 0.5 * table["cea"]
    table["time_months"] = rng.exponential(30 * np.exp(-0.8 * (risk - risk.mean())))
    table["event"] = (rng.random(len(table)) < 0.8).astype(int)
    table["center"] = np.where(np.arange(len(table)) < 28, "A", "B")
    table.to_csv(tmp_path / "features.csv.gz", index=False)
    config = write_config(
        tmp_path,
        data={"features": "features.csv.gz", "level": "patient", "positive": "metastasis",
              "clinical": ["cea"], "time_column": "time_months", "event_column": "event"},
        models=[{"name": "lr", "select": "anova", "select_params": {"k": 3}}],
        validation={"design": "external", "test_centres": ["B"], "folds": 3, "bootstrap": 100},
        survival={"covariates": ["cea"]}, subgroups=[],
        explain={"shap": False, "permutation": False})
    result = run_study(config, tmp_path / "out")
    analysis = survival_analysis(result)
    assert list(analysis.cox.index) == ["cea", "rad_score"]
    assert analysis.cox.loc["cea", "hr"] > 1
    dev = analysis.frame[analysis.frame["split"] == "cv"]
    assert (dev["risk"] == "high").sum() == (dev["risk"] == "low").sum()  # median cut-off
    assert set(analysis.splits) == {"cv", "external"}
    assert analysis.splits["cv"]["c_index"] > 0.6
    assert 0 <= analysis.splits["external"]["logrank"]["p"] <= 1
    cox = pd.read_csv(tmp_path / "out" / "tables" / "cox.csv").set_index("covariate")
    np.testing.assert_allclose(cox["hr"], analysis.cox["hr"], rtol=1e-12)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [r["covariate"] for r in metrics["tables"]["cox"]] == ["cea", "rad_score"]
    assert {"c_index_models", "numbers_at_risk", "cox_discrimination"} <= set(metrics["tables"])
    html = (tmp_path / "out" / "report.html").read_text()
    assert ">Survival<" in html and "time in months" in html
    assert "Number at risk in each risk group" in html
    assert "Forest plot of the Cox model" in html
    # a C-index for every model, not only the Cox linear predictor
    from livermets.stats import harrell_c
    from livermets.stats.predictions import averaged
    from livermets.study.survival import model_c_index

    table = model_c_index(result, analysis.frame)
    pd.testing.assert_frame_equal(table, analysis.c_index_models)
    assert set(table["model"]) == set(result.predictions["model"])
    lr = averaged(result.predictions[result.predictions["model"] == "lr"])
    cv = lr[lr["split"] == "cv"].groupby("patient_id")["y_prob"].mean()
    frame = analysis.frame.set_index("patient_id").loc[cv.index]
    expected = harrell_c(frame["time"], frame["event"], cv.to_numpy()).c_index
    got = table[(table["model"] == "lr") & (table["split"] == "cv")]["C-index"].item()
    assert got == pytest.approx(expected, abs=1e-12)
    shown = pd.read_csv(tmp_path / "out" / "tables" / "c_index_models.csv")
    assert shown["C-index"].tolist() == pytest.approx(table["C-index"].tolist(), abs=1e-12)
