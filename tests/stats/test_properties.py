"""Property tests (hypothesis): invariances every correct implementation must satisfy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from livermets.stats import decision_curve, harrell_c, roc_auc
from livermets.stats.roc import auc_from_scores

scores = st.lists(st.integers(-20, 20), min_size=3, max_size=40)


def _data(pos: list[int], neg: list[int]) -> tuple[np.ndarray, np.ndarray]:
    y = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    return y, np.r_[pos, neg].astype(float)


@settings(max_examples=60, deadline=None)
@given(scores, scores)
def test_auc_of_negated_score_is_one_minus_auc(pos: list[int], neg: list[int]) -> None:
    y, s = _data(pos, neg)
    a = roc_auc(y, s, direction="<").auc
    b = roc_auc(y, -s, direction="<").auc
    assert np.isclose(a + b, 1.0)


@settings(max_examples=60, deadline=None)
@given(scores, scores)
def test_delong_ci_contains_auc(pos: list[int], neg: list[int]) -> None:
    y, s = _data(pos, neg)
    res = roc_auc(y, s, direction="<")
    assert res.ci[0] - 1e-12 <= res.auc <= res.ci[1] + 1e-12


@settings(max_examples=60, deadline=None)
@given(scores, scores)
def test_auc_equals_pairwise_definition(pos: list[int], neg: list[int]) -> None:
    p, n = np.array(pos, float), np.array(neg, float)
    naive = np.mean((p[:, None] > n[None, :]) + 0.5 * (p[:, None] == n[None, :]))
    assert np.isclose(auc_from_scores(p, n), naive)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=4, max_size=50))
def test_treat_none_net_benefit_is_zero(rows: list[tuple[bool, float]]) -> None:
    y = np.array([r[0] for r in rows] + [True, False])
    p = np.array([r[1] for r in rows] + [0.5, 0.5])
    res = decision_curve(y, p, np.linspace(0, 0.95, 20))
    assert np.all(res.treat_none == 0)
    assert np.all(res.model <= y.mean() + 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.booleans(), st.integers(0, 5)), min_size=3,
                max_size=30))
def test_cindex_of_negated_risk_is_one_minus_c(rows: list[tuple[int, bool, int]]) -> None:
    t = np.array([r[0] for r in rows] + [1, 2], float)
    e = np.array([r[1] for r in rows] + [True, True])
    x = np.array([r[2] for r in rows] + [0, 1], float)
    a, b = harrell_c(t, e, x), harrell_c(t, e, -x)
    assert np.isclose(a.c_index + b.c_index, 1.0)
    assert a.concordant == b.discordant and a.tied_risk == b.tied_risk
