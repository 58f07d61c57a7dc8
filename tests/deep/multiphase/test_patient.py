"""Patient-level rules on hand-made voxel maps; every expected number is computed by hand below."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.deep.multiphase.patient import (
    MALIGNANT,
    group_score,
    malignant_probability,
    max_inside_liver,
    predicted_volume,
)
from livermets.errors import ConfigError, DataError

# 2 lesion classes on a 2 x 4 x 4 (z, y, x) grid; the liver is the 2 x 2 x 2 block [:, 1:3, 1:3]
LIVER = np.zeros((2, 4, 4), dtype=bool)
LIVER[:, 1:3, 1:3] = True
TWO = np.zeros((2, 2, 4, 4))
TWO[0, 0, 0, 0] = 0.95  # class 0: the global maximum lies outside the liver
TWO[0, 0, 1, 1] = 0.60  # ... the maximum inside it
TWO[0, 1, 2, 2] = 0.30
TWO[1, 1, 3, 3] = 0.90  # class 1: global maximum outside the liver
TWO[1, 0, 1, 1] = 0.20
TWO[1, 1, 2, 2] = 0.50  # ... the maximum inside it


def test_max_inside_liver_ignores_voxels_outside_the_liver():
    assert TWO.reshape(2, -1).max(axis=1).tolist() == [0.95, 0.90]  # what a plain max would give
    assert max_inside_liver(TWO, LIVER).tolist() == [0.60, 0.50]
    assert max_inside_liver(TWO.astype(np.float32), LIVER.astype(np.uint8)) == pytest.approx(
        [0.60, 0.50])


def test_max_inside_liver_empty_liver_and_nan_outside():
    assert max_inside_liver(TWO, np.zeros_like(LIVER)).tolist() == [0.0, 0.0]
    probs = TWO.copy()
    probs[0, 0, 0, 0] = np.nan  # outside the liver: never read
    assert max_inside_liver(probs, LIVER).tolist() == [0.60, 0.50]
    probs[0, 0, 1, 2] = np.nan  # inside: an error
    with pytest.raises(DataError, match="NaN"):
        max_inside_liver(probs, LIVER)


def test_max_inside_liver_shape_errors():
    with pytest.raises(DataError, match="same voxel grid"):
        max_inside_liver(TWO, LIVER[:, :3])
    with pytest.raises(DataError, match="classes, \\*spatial"):
        max_inside_liver(np.zeros(4), np.zeros(4, bool))


def test_predicted_volume_counts_each_label():
    labels = np.zeros((2, 4, 4), dtype=np.uint8)
    labels[:, 1:3, 1:3] = 1  # liver parenchyma: not a lesion class
    labels[0, 0, :3] = 2  # 3 voxels of class 0
    labels[1, 3, :] = 3  # 4 + 1 = 5 voxels of class 1
    labels[1, 0, 0] = 3
    voxel_ml = 0.5 * 0.5 * 2.0 / 1000  # 0.5 x 0.5 x 2 mm voxels
    assert predicted_volume(labels, 2, voxel_ml) == pytest.approx([3 * 0.0005, 5 * 0.0005])
    # offset 1 (no liver channel): label 1 is class 0, labels 2 and 3 classes 1 and 2
    assert predicted_volume(labels, 3, 1.0, offset=1).tolist() == [8.0, 3.0, 5.0]
    with pytest.raises(DataError, match=r"outside 0\.\.2"):
        predicted_volume(labels, 1, voxel_ml)
    with pytest.raises(ConfigError, match="voxel_ml"):
        predicted_volume(labels, 2, 0.0)
    with pytest.raises(DataError, match="integer"):
        predicted_volume(labels.astype(float), 2, 1.0)


# 3 classes: voxel (0,1,1) has hcc 0.5 + metastasis 0.4 = 0.9 malignant, voxel (1,2,2) hcc 0.6;
# outside the liver voxel (0,0,0) has metastasis 0.99
CLASSES = ("hcc", "metastasis", "cyst")
THREE = np.zeros((3, 2, 4, 4))
THREE[:, 0, 1, 1] = [0.5, 0.4, 0.1]
THREE[:, 1, 2, 2] = [0.6, 0.0, 0.3]
THREE[:, 0, 0, 0] = [0.0, 0.99, 0.0]
THREE[2, 1, 1, 2] = 0.95


def test_malignant_probability_sums_classes_per_voxel_before_the_max():
    assert malignant_probability(THREE, LIVER, CLASSES, ("hcc", "metastasis")) == pytest.approx(0.9)
    # the per-class maxima are hcc 0.6, metastasis 0.4: their max (0.6) is smaller than 0.9
    per_class = max_inside_liver(THREE, LIVER)
    assert per_class.tolist() == [0.6, 0.4, 0.95]
    assert group_score(per_class, CLASSES, ("hcc", "metastasis")) == pytest.approx(0.6)
    assert group_score(per_class, CLASSES, ("hcc", "metastasis"), how="sum") == pytest.approx(1.0)
    assert malignant_probability(THREE, LIVER, CLASSES, ("cyst",)) == pytest.approx(0.95)
    assert malignant_probability(THREE, np.zeros_like(LIVER), CLASSES, ("hcc",)) == 0.0


def test_default_malignant_classes():
    assert MALIGNANT == ("hcc", "icc", "metastasis")
    classes = ("hcc", "icc", "metastasis", "hemangioma", "fnh", "cyst", "calcification", "other")
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.0, 0.0, 0.0, 0.0])
    assert group_score(scores, classes) == pytest.approx(0.3)
    assert group_score(scores, classes, how="sum") == pytest.approx(0.6)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: malignant_probability(THREE, LIVER, CLASSES), ConfigError, "icc"),
        (lambda: malignant_probability(THREE, LIVER, CLASSES[:2]), DataError, "3 class channels"),
        (lambda: malignant_probability(THREE, LIVER, ("hcc", "hcc", "cyst"), ("hcc",)),
         ConfigError, "unique"),
        (lambda: group_score(np.ones(3), CLASSES, ("hcc",), how="mean"), ConfigError, "max"),
        (lambda: group_score(np.ones(2), CLASSES, ("hcc",)), DataError, "one score per class"),
        (lambda: group_score(np.ones(3), CLASSES, ()), ConfigError, "empty"),
    ],
)
def test_bad_inputs_raise_helpful_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
