"""The study's paired DeLong table keeps a below-chance model below chance (no silent flip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.stats import roc_auc
from livermets.study.metrics import comparisons


def test_below_chance_model_is_not_flipped():
    rng = np.random.default_rng(4)
    y = np.array([0, 1] * 20)
    good = y + rng.normal(0, 0.8, y.size)
    bad = -y + rng.normal(0, 1.5, y.size)  # worse than chance
    rows = []
    for name, score in (("good", good), ("bad", bad)):
        prob = 1 / (1 + np.exp(-score))
        rows.append(pd.DataFrame({"patient_id": [f"P{i}" for i in range(y.size)], "model": name,
                                  "repeat": 0, "fold": 0, "split": "cv",
                                  "y_true": np.where(y == 1, "met", "ben"), "y_prob": prob}))
    table = pd.DataFrame(comparisons(pd.concat(rows), ["ben", "met"]))
    row = table.iloc[0]
    auc_bad = roc_auc(y, 1 / (1 + np.exp(-bad)), positive=1, direction="<").auc
    assert auc_bad < 0.5
    by_model = {row["model_a"]: row["auc_a"], row["model_b"]: row["auc_b"]}
    assert by_model["bad"] == pytest.approx(auc_bad)
    assert by_model["good"] > 0.7
    assert row["diff"] == pytest.approx(row["auc_a"] - row["auc_b"])
    assert row["p"] < 0.001
