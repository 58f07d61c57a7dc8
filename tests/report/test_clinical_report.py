"""The clinical section says which selection rule applied, the EPV, and marks separation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from livermets.models import ClinicalLogit, FeatureData
from livermets.report.document import Section
from livermets.report.models import _or_format, clinical_section
from livermets.study.config import ClinicalSpec


def separated_result(method: str) -> SimpleNamespace:
    """A finished study's pieces that the clinical section reads: cea > 0.3 is the positive
    class exactly (complete separation), age is noise; 40 patients."""
    rng = np.random.default_rng(7)
    cea = rng.normal(size=40)
    X = pd.DataFrame({"cea": cea, "age": rng.normal(60, 10, size=40)})
    y = (cea > 0.3).astype(int)
    data = FeatureData(X, y, ["hemangioma", "metastasis"], np.arange(40).astype(str),
                       clinical_columns=["cea", "age"])
    model = Pipeline([("classifier", ClinicalLogit(selection="none", method=method))]).fit(X, y)
    final = SimpleNamespace(fit=SimpleNamespace(pipeline=model))
    config = SimpleNamespace(clinical=ClinicalSpec(variables=["cea", "age"], selection="none",
                                                   method=method, nomogram=False))
    return SimpleNamespace(data=data, development=np.arange(40), finals={"clinical": final},
                           config=config)


def section_html(method: str) -> str:
    section = Section("models-clinical", "Clinical")
    clinical_section(section, separated_result(method))
    return "".join(b.html for b in section.blocks)


def test_ml_report_says_separation_and_shows_no_infinite_odds_ratio():
    html = section_html("ml")
    assert "clinical model: Complete separation: a combination of the variables predicts" in html
    assert "cea on its own" in html
    assert "not estimable (OR -&gt; inf)" in html  # not "OR 3e12 (0-inf)"
    assert "separation: maximum-likelihood estimate infinite" in html
    assert "Variable selection of the clinical model: no selection: cea, age." in html
    # 6 of the 40 have cea > 0.3: 6 events for 2 variables
    assert ("Events per variable (clinical model): 6 events in the rarer class "
            "&#x27;metastasis&#x27; of 40 cases; 2 candidate variable(s), EPV 3.0; 2 selected, "
            "EPV 3.0.") in html
    assert ("clinical model: Events per variable 3.0 for the 2 candidate variable(s) (6 events "
            "in the rarer outcome class): severe (below 5)") in html
    assert html.count("Events per variable 3.0") == 1  # candidates = selected: said once
    assert "which needs at least 196 cases" in html  # 1537 * 0.15 * 0.85 = 195.9
    assert "fitted by maximum likelihood" in html


def test_firth_report_gives_finite_odds_ratios_and_says_how():
    html = section_html("auto")
    assert "The model was fitted with Firth&#x27;s penalised likelihood instead." in html
    assert "fitted by Firth&#x27;s penalised likelihood" in html
    assert "separation: Firth estimate" in html
    assert "not estimable" not in html.split("Multivariable")[-1]


def test_or_format_marks_only_separated_rows():
    table = pd.DataFrame({"variable": ["cea", "age"], "coef": [28.0, 0.01],
                          "odds_ratio": [1.4e12, 1.01], "ci_low": [0.0, 0.9],
                          "ci_high": [np.inf, 1.12], "p": [0.999, 0.0004],
                          "separated": [True, False], "method": "ml"})
    out = _or_format(table)
    assert out["OR (95% CI)"].tolist() == ["not estimable (OR -> inf)", "1.01 (0.9-1.12)"]
    assert out["p"].tolist() == ["", "<0.001"]
    assert out["note"].tolist() == ["separation: maximum-likelihood estimate infinite", ""]
    assert "note" not in _or_format(table.assign(separated=False)).columns


def test_the_run_warns_on_stderr_with_the_counts():
    import pytest

    from livermets.study.runner import _warn_logistic

    final = separated_result("auto").finals["clinical"]
    with pytest.warns(UserWarning) as caught:
        _warn_logistic("clinical", final)
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("clinical model: Complete separation")
    assert any("Events per variable 3.0 for the 2 candidate variable(s) (6 events" in m
               for m in messages)
