"""Post-processing: one liver, lesions inside it, specks removed, one class per lesion."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.errors import ConfigError
from livermets.segment import PostprocessSettings, postprocess


def _scene():
    liver = np.zeros((8, 30, 30), dtype=bool)
    liver[1:7, 2:20, 2:20] = True
    liver[3, 26:28, 26:28] = True  # a stray liver speck
    lesions = np.zeros(liver.shape, dtype=np.uint8)
    lesions[2:5, 5:9, 5:9] = 1  # inside the liver: 48 voxels
    lesions[3:5, 10:13, 10:13] = 2  # inside, mostly class 2 ...
    lesions[3, 10, 13] = 1  # ... with one class-1 voxel attached
    lesions[2:5, 24:28, 2:6] = 1  # outside the liver
    lesions[5, 15, 15] = 1  # a single-voxel speck inside the liver
    return liver, lesions


def test_postprocess_keeps_lesions_inside_the_liver():
    liver, lesions = _scene()
    spacing = (1.0, 1.0, 1.0)  # 1 voxel = 0.001 ml
    clean = postprocess(liver, lesions, spacing, PostprocessSettings(min_lesion_ml=0.005))
    assert clean.removed_small == 1 and clean.removed_outside == 1
    assert not clean.liver[3, 26:28, 26:28].any()  # the speck is not the largest component
    assert clean.liver[liver & (np.indices(liver.shape)[2] < 20)].all()
    assert (clean.lesions[2:5, 5:9, 5:9] == 1).all()
    assert (clean.lesions[3:5, 10:13, 10:13] == 2).all()
    assert clean.lesions[3, 10, 13] == 2  # the component takes its majority class
    assert not clean.lesions[2:5, 24:28, 2:6].any()
    assert clean.lesions[5, 15, 15] == 0
    assert set(np.unique(clean.lesions)) == {0, 1, 2}


def test_postprocess_fills_lesion_holes_into_the_liver():
    liver = np.zeros((7, 20, 20), dtype=bool)
    liver[1:6, 2:18, 2:18] = True
    lesions = np.zeros(liver.shape, dtype=np.uint8)
    lesions[2:5, 7:12, 7:12] = 1
    liver[lesions > 0] = False  # the liver class excludes the lesion
    clean = postprocess(liver, lesions, (1, 1, 1))
    assert clean.liver[2:5, 7:12, 7:12].all()
    assert int(clean.liver.sum()) == 5 * 16 * 16


@pytest.mark.parametrize("kwargs", [{"min_lesion_ml": -1.0}, {"min_inside": 1.5}])
def test_postprocess_settings_reject_bad_values(kwargs):
    with pytest.raises(ConfigError):
        PostprocessSettings(**kwargs)
