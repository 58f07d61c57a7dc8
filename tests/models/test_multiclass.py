"""Multi-class patient aggregation and permutation importance, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.models import aggregate_patients
from livermets.models.explain import importance_table

# classes a, b, c. Patient A: two lesions of class a (10 and 20 mm). Patient B: three lesions,
# classes b, b, c (no single true class).
PROBS = np.array([
    [0.6, 0.3, 0.1],  # A1 10 mm: votes a
    [0.2, 0.2, 0.6],  # A2 20 mm: votes c
    [0.1, 0.5, 0.4],  # B1 5 mm: votes b
    [0.1, 0.5, 0.4],  # B2 30 mm: votes b
    [0.0, 0.05, 0.95],  # B3 8 mm: votes c
])
PREDS = pd.DataFrame({
    "patient_id": ["A", "A", "B", "B", "B"], "lesion_id": ["1", "2", "1", "2", "3"],
    "model": "m", "repeat": 0, "fold": 0, "split": "cv",
    "y_true": ["a", "a", "b", "b", "c"],
    **{f"p_{c}": PROBS[:, k] for k, c in enumerate("abc")},
})
DIAMETER = pd.DataFrame({"patient_id": ["A", "A", "B", "B", "B"],
                         "lesion_id": ["1", "2", "1", "2", "3"],
                         "diameter_mm": [10.0, 20.0, 5.0, 30.0, 8.0]})

CASES = [
    # max: A maxima (0.6, 0.3, 0.6) / 1.5; B maxima (0.1, 0.5, 0.95) / 1.55
    ("max", [[0.4, 0.2, 0.4], [0.1 / 1.55, 0.5 / 1.55, 0.95 / 1.55]], ["a", "c"]),
    # mean: A (0.8, 0.5, 0.7) / 2; B (0.2, 1.05, 1.75) / 3 -> c, although most lesions say b
    ("mean", [[0.4, 0.25, 0.35], [0.2 / 3, 0.35, 1.75 / 3]], ["a", "c"]),
    # largest: A2 (20 mm), B2 (30 mm)
    ("largest", [[0.2, 0.2, 0.6], [0.1, 0.5, 0.4]], ["c", "b"]),
    # vote: (votes + mean) / (lesions + 1). A: votes (1, 0, 1), a tie of a and c broken by the
    # mean (0.4 > 0.35); B: votes (0, 2, 1): the majority b wins over the mean's c
    ("vote", [[1.4 / 3, 0.25 / 3, 1.35 / 3], [(0.2 / 3) / 4, 2.35 / 4, (1 + 1.75 / 3) / 4]],
     ["a", "b"]),
]


@pytest.mark.parametrize(("method", "expected", "winner"), CASES)
def test_multiclass_patient_aggregation(method, expected, winner):
    table = aggregate_patients(PREDS, method, diameter=DIAMETER)
    probs = table[["p_a", "p_b", "p_c"]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert ["abc"[k] for k in probs.argmax(axis=1)] == winner
    assert table["patient_id"].tolist() == ["A", "B"]
    assert table["y_true"].tolist() == ["a", None]  # B's lesions disagree: no single class


class Lookup:
    """A fitted 'pipeline' predicting 0.7 for the class in column a, 0.15 for the others."""

    classes_ = np.array([0, 1, 2])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        prob = np.full((len(X), 3), 0.15)
        prob[np.arange(len(X)), X["a"].to_numpy()] = 0.7
        return prob


# y = (0, 1, 2, 0, 1, 2); column a = y. np.random.default_rng(0) shuffles a into
# (0, 2, 2, 1, 0, 1) (2 of 6 rows still right), then (1, 2, 1, 2, 0, 0) (none right).
X_TOY = pd.DataFrame({"a": [0, 1, 2, 0, 1, 2], "b": [5.0, 1, 4, 2, 3, 0]})
Y_TOY = np.array([0, 1, 2, 0, 1, 2])


def test_multiclass_permutation_importance_macro_auc():
    # base macro one-vs-rest AUC 1. First shuffle, per class (2 positives x 4 negatives):
    # a 5/8, b 2/8, c 5/8 -> macro 0.5; second shuffle: 2/8 for every class -> 0.25.
    # Drops 0.5 and 0.75: mean 0.625, SD 0.125. b is never used: exactly 0.
    table = importance_table(Lookup(), X_TOY, Y_TOY, ["a", "b"], seed=0, repeats=2)
    assert table["feature"].tolist() == ["a", "b"]
    assert table["importance_mean"].tolist() == pytest.approx([0.625, 0.0])
    assert table["importance_sd"].tolist() == pytest.approx([0.125, 0.0])


def test_multiclass_permutation_importance_log_loss():
    # a wrong row costs -ln 0.15 instead of -ln 0.7: the mean log-loss rises by
    # (wrong rows / 6) ln(0.7 / 0.15): 4/6 and 6/6 of ln(14/3) for the two shuffles
    step = np.log(0.7 / 0.15)
    table = importance_table(Lookup(), X_TOY, Y_TOY, ["a", "b"], seed=0, repeats=2,
                             score="log_loss")
    assert table["importance_mean"].tolist() == pytest.approx([5 / 6 * step, 0.0])
    assert table["importance_sd"].tolist() == pytest.approx([step / 6, 0.0])
    with pytest.raises(ValueError, match="use auc, log_loss"):
        importance_table(Lookup(), X_TOY, Y_TOY, ["a"], score="brier")
