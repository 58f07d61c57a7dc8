"""Slice -> lesion -> patient aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.deep.aggregate import lesion_probabilities, patient_probabilities
from livermets.errors import ConfigError

META = pd.DataFrame({"patient_id": ["A", "A", "A", "B", "B"],
                     "lesion_id": ["1", "1", "2", "1", "1"]})
P1 = np.array([0.2, 0.6, 0.9, 0.1, 0.3])
PROB = np.stack([1 - P1, P1], axis=1)


@pytest.mark.parametrize("how,expected", [("mean", [0.4, 0.9, 0.2]), ("max", [0.6, 0.9, 0.3])])
def test_slice_to_lesion(how, expected):
    keys, prob = lesion_probabilities(META, PROB, how)
    assert keys.values.tolist() == [["A", "1"], ["A", "2"], ["B", "1"]]
    assert prob[:, 1] == pytest.approx(expected)
    assert prob.sum(1) == pytest.approx(np.ones(3))


def test_lesion_to_patient():
    keys, prob = lesion_probabilities(META, PROB, "mean")
    pk, pp = patient_probabilities(keys, prob, "max")
    assert pk["patient_id"].tolist() == ["A", "B"]
    assert pp[:, 1] == pytest.approx([0.9, 0.2])
    assert patient_probabilities(keys, prob, "mean")[1][:, 1] == pytest.approx([0.65, 0.2])


def test_max_probability_lesion_rule_multiclass():
    lesions = pd.DataFrame({"patient_id": ["A", "A"], "lesion_id": ["1", "2"]})
    prob = np.array([[0.1, 0.7, 0.2], [0.05, 0.15, 0.8]])
    _, pp = patient_probabilities(lesions, prob, "max_lesion")
    assert pp[0].tolist() == [0.05, 0.15, 0.8]


def test_bad_rule():
    with pytest.raises(ConfigError):
        lesion_probabilities(META, PROB, "median")
    with pytest.raises(ConfigError):
        patient_probabilities(META, PROB, "vote")
