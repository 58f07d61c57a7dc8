"""QA metrics against hand-computed values on small arrays, and against MONAI's metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livermets.segment import MatchSettings, match_lesions, overlap_metrics
from livermets.segment.qa import poisson_rate_ci, summarise_detection
from livermets.stats import proportion_ci


def _line(n: int, on: list[int]) -> np.ndarray:
    a = np.zeros((1, 1, n), dtype=bool)
    a[0, 0, on] = True
    return a


def _block(shape, box) -> np.ndarray:
    a = np.zeros(shape, dtype=bool)
    a[tuple(slice(lo, hi) for lo, hi in box)] = True
    return a


def _column(n: int, on: list[int]) -> np.ndarray:
    a = np.zeros((n, 1, 1), dtype=bool)
    a[on, 0, 0] = True
    return a


# (reference, predicted, spacing z,y,x, Dice, IoU, HD95 mm, ASD mm), all worked out by hand
CASES = [
    # one voxel vs that voxel + one 4 voxels away along x (0.5 mm): d = [0] and [0, 2]
    (_line(5, [0]), _line(5, [0, 4]), (2.0, 1.0, 0.5), 2 / 3, 1 / 2, 0.95 * 2.0, 2.0 / 3),
    # disjoint voxels 3 slices apart, 2.5 mm slices
    (_column(4, [0]), _column(4, [3]), (2.5, 1.0, 1.0), 0.0, 0.0, 7.5, 7.5),
    # one slice, 5x3 block vs the block shifted one column (0.8 mm): every voxel is surface;
    # 5 of 15 distances are 0.8 in each direction
    (
        _block((1, 5, 5), [(0, 1), (0, 5), (0, 3)]),
        _block((1, 5, 5), [(0, 1), (0, 5), (1, 4)]),
        (3.0, 0.8, 0.8), 2 / 3, 10 / 20, 0.8, 10 * 0.8 / 30,
    ),
    # identical cubes
    (_block((5, 5, 5), [(1, 4)] * 3), _block((5, 5, 5), [(1, 4)] * 3), (1, 1, 1), 1, 1, 0, 0),
    # both empty: agreement by convention, distances 0
    (_line(3, []), _line(3, []), (1, 1, 1), 1.0, 1.0, 0.0, 0.0),
    # one empty: Dice 0, distances undefined
    (_line(3, [1]), _line(3, []), (1, 1, 1), 0.0, 0.0, math.nan, math.nan),
]  # fmt: skip


@pytest.mark.parametrize(("ref", "pred", "spacing", "dice", "iou", "hd95", "asd"), CASES)
def test_overlap_metrics_hand_computed(ref, pred, spacing, dice, iou, hd95, asd):
    m = overlap_metrics(ref, pred, spacing)
    assert m.dice == pytest.approx(dice)
    assert m.iou == pytest.approx(iou)
    assert m.hd95_mm == pytest.approx(hd95, nan_ok=True)
    assert m.asd_mm == pytest.approx(asd, nan_ok=True)


def test_surface_metrics_agree_with_monai():
    import torch
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance
    from scipy import ndimage

    rng = np.random.default_rng(3)
    spacing = (2.5, 0.8, 0.7)
    for _ in range(3):
        ref = ndimage.gaussian_filter(rng.random((10, 24, 24)), 2) > 0.5
        pred = ndimage.binary_dilation(ref, iterations=1) ^ (rng.random(ref.shape) > 0.97)
        ours = overlap_metrics(ref, pred, spacing)
        y, p = (torch.from_numpy(a[None, None].astype(np.float32)) for a in (ref, pred))
        hd = compute_hausdorff_distance(p, y, include_background=True, percentile=95,
                                        spacing=spacing)  # fmt: skip
        asd = compute_average_surface_distance(p, y, include_background=True, symmetric=True,
                                               spacing=spacing)  # fmt: skip
        assert ours.hd95_mm == pytest.approx(float(hd), rel=1e-5)
        assert ours.asd_mm == pytest.approx(float(asd), rel=1e-5)


def _lesion_maps():
    shape = (6, 20, 20)
    ref = np.zeros(shape, dtype=np.uint8)
    ref[1:5, 2:6, 2:6] = 1  # A: 4x4x4 = 64 voxels
    ref[1:3, 12:14, 12:14] = 1  # B: 2x2x2 = 8 voxels
    pred = np.zeros(shape, dtype=np.uint8)
    pred[1:5, 2:6, 3:7] = 1  # A shifted one voxel in x: overlap 48
    pred[1:3, 16:18, 2:4] = 1  # a false positive, 8 voxels
    return ref, pred


@pytest.mark.parametrize(
    ("metric", "threshold", "detected", "dice_a", "n_fp"),
    [
        ("dice", 0.1, [True, False], 0.75, 1),  # Dice(A, A') = 2*48/128
        ("iou", 0.59, [True, False], 0.75, 1),  # IoU(A, A') = 48/80 = 0.6
        ("iou", 0.6, [False, False], 0.0, 2),  # strictly above the threshold
        ("dice", 0.8, [False, False], 0.0, 2),
    ],
)
def test_lesion_matching_hand_computed(metric, threshold, detected, dice_a, n_fp):
    ref, pred = _lesion_maps()
    match = match_lesions("p", ref, pred, (1.0, 1.0, 1.0), MatchSettings(metric, threshold))
    assert [r["detected"] for r in match.reference] == detected
    assert match.reference[0]["dice"] == pytest.approx(dice_a)
    assert match.reference[0]["best_dice"] == pytest.approx(0.75)
    assert [r["size_group"] for r in match.reference] == ["<=10 mm", "<=10 mm"]
    assert sum(not p["true_positive"] for p in match.predicted) == n_fp


def test_one_prediction_matches_one_lesion_only():
    ref = np.zeros((3, 12, 12), dtype=np.uint8)
    ref[1, 2:5, 2:5] = 1
    ref[1, 2:5, 6:9] = 2  # touching instance of another label value
    pred = np.zeros_like(ref)
    pred[1, 2:5, 2:9] = 1  # one blob over both
    match = match_lesions("p", ref, pred, (1, 1, 1), MatchSettings("dice", 0.1))
    assert sum(r["detected"] for r in match.reference) == 1
    assert match.reference[0]["dice"] == pytest.approx(2 * 9 / (9 + 21))


def test_detection_summary_uses_wilson_and_poisson():
    ref, pred = _lesion_maps()
    match = match_lesions("p", ref, pred, (1.0, 1.0, 1.0))
    import pandas as pd

    table = summarise_detection(
        pd.DataFrame(match.reference), pd.DataFrame(match.predicted), 2, (10, 30)
    )
    small = table.set_index("size_group").loc["<=10 mm"]
    assert small["n_lesions"] == 2 and small["detected"] == 1
    assert (small["sensitivity_ci_low"], small["sensitivity_ci_high"]) == pytest.approx(
        proportion_ci(1, 2, "wilson")
    )
    assert small["fp_per_patient"] == pytest.approx(0.5)
    assert small["lesion_dice_mean"] == pytest.approx(0.375)  # (0.75 + 0) / 2
    assert table.set_index("size_group").loc[">30 mm", "n_lesions"] == 0


def test_poisson_rate_ci_reference_values():
    # Garwood exact limits: 0 events -> (0, 3.6889); 2 events -> (0.2422, 7.2247)
    assert poisson_rate_ci(0, 1) == pytest.approx((0.0, 3.688879), rel=1e-5)
    assert poisson_rate_ci(2, 2) == pytest.approx((0.242209 / 2, 7.224687 / 2), rel=1e-5)
