"""Binomial CIs (Newcombe 1998, Stat Med 17:857, Table II, 81/263) and McNemar (blorr README)."""

from __future__ import annotations

import pytest

from livermets.errors import ConfigError, DataError
from livermets.stats import mcnemar_test, paired_accuracy_test, proportion_ci


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("wald", (0.2522, 0.3638)),
        ("wilson", (0.2553, 0.3662)),
        ("clopper-pearson", (0.2527, 0.3676)),
        ("agresti-coull", (0.2552, 0.3663)),  # statsmodels proportion_confint agresti_coull
    ],
)
def test_intervals_81_of_263(method: str, expected: tuple[float, float]) -> None:
    assert proportion_ci(81, 263, method) == pytest.approx(expected, abs=5e-5)


def test_edges_and_errors() -> None:
    assert proportion_ci(0, 10, "clopper-pearson")[0] == 0.0
    assert proportion_ci(10, 10, "clopper-pearson")[1] == 1.0
    assert proportion_ci(0, 10, "wald") == (0.0, 0.0)
    with pytest.raises(ConfigError):
        proportion_ci(1, 10, "exactish")
    with pytest.raises(DataError):
        proportion_ci(11, 10)


def test_mcnemar_matches_blorr_confusion_matrix() -> None:
    # blorr README, blr_confusion_matrix(model): off-diagonal 26 and 12,
    # "McNemars's Test P-Value : 0.0350" (R mcnemar.test with continuity correction).
    res = mcnemar_test(26, 12)
    assert res.p == pytest.approx(0.0350, abs=5e-5)
    assert res.statistic == pytest.approx(169 / 38)
    assert mcnemar_test(3, 3, exact=True).p == 1.0


def test_paired_accuracy_counts() -> None:
    truth = [1, 1, 0, 0, 1, 0]
    a = [1, 1, 0, 1, 0, 0]
    b = [0, 1, 0, 0, 0, 0]
    res = paired_accuracy_test(truth, a, b)
    assert (res.b, res.c) == (1, 1)
