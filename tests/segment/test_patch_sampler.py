"""Training patches (MONAI's croppers): aligned volume/labels, foreground centres, padding."""

from __future__ import annotations

import numpy as np

from livermets.segment.monai_model import PatchSampler, TrainingCase, _foreground_index


def _case(shape=(20, 40, 50)) -> TrainingCase:
    rng = np.random.default_rng(0)
    labels = np.zeros(shape, np.int64)
    labels[5:15, 10:30, 10:40] = 1
    labels[8:10, 15:17, 20:22] = 2
    # the volume encodes each voxel's position, so a patch says exactly where it came from
    volume = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return TrainingCase("p", volume, labels, _foreground_index(labels, rng))


def test_foreground_patches_are_centred_on_each_class_equally_often():
    case = _case()
    sampler = PatchSampler((8, 32, 32), 3, seed=0)
    centres = []
    for _ in range(400):
        x, y = sampler(case, foreground=True)
        assert x.shape == y.shape == (8, 32, 32)
        # labels cut at the same place as the volume
        z, r, c = np.unravel_index(x.astype(np.int64), case.volume.shape)
        np.testing.assert_array_equal(case.labels[z, r, c], y)
        centres.append(y[4, 16, 16])
    centres = np.array(centres)
    assert set(np.unique(centres)) == {1, 2}  # never background
    assert 0.4 < np.mean(centres == 2) < 0.6  # classes drawn with equal ratios, not by size


def test_random_patches_are_padded_with_the_minimum_on_small_images():
    case = _case((4, 20, 20))
    sampler = PatchSampler((8, 32, 32), 3, seed=1)
    x, y = sampler(case, foreground=False)
    assert x.shape == y.shape == (8, 32, 32)
    inside = x[2:6, 6:26, 6:26]  # symmetric padding
    np.testing.assert_array_equal(inside, case.volume)
    assert (x == 0).sum() == 8 * 32 * 32 - case.volume.size + 1  # pad value = volume minimum (0)
    np.testing.assert_array_equal(y[2:6, 6:26, 6:26], case.labels)


def test_same_seed_same_patches():
    case = _case()
    a, b = PatchSampler((8, 32, 32), 3, seed=5), PatchSampler((8, 32, 32), 3, seed=5)
    for fg in (True, False, True):
        np.testing.assert_array_equal(a(case, fg)[0], b(case, fg)[0])
