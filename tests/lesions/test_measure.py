"""Lesion diameters, volumes, instances and size groups against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.errors import ConfigError
from livermets.lesions import (
    LesionSettings,
    axial_diameter,
    max_3d_diameter,
    measure_lesions,
    size_group,
    size_group_names,
    split_instances,
)
from tests.helpers import ball, to_image


@pytest.mark.parametrize(
    ("shape", "spacing", "axial", "diameter_3d"),
    [
        # one voxel: edge to edge along x (0.7 mm); in 3D the slice thickness (2 mm)
        ((1, 1, 1), (0.7, 0.7, 2.0), 0.7, 2.0),
        # a 4 x 3 rectangle on one slice: from the left edge of the first row to the right
        # edge of the last (4 by 2 mm); in 3D from the bottom face to the opposite top face
        ((1, 3, 4), (1.0, 1.0, 5.0), np.hypot(4.0, 2.0), np.sqrt(5.0**2 + 2.0**2 + 3.0**2)),
        # a bar of 10 voxels along x at 0.5 mm; in 3D across the slice thickness end to end
        ((1, 1, 10), (0.5, 0.8, 3.0), 5.0, np.hypot(3.0, 4.5)),
        # a column of 4 slices of one voxel: axial 0.6, 3D 4 x 2.5
        ((4, 1, 1), (0.6, 0.6, 2.5), 0.6, 10.0),
    ],
)
def test_diameters_of_boxes(shape, spacing, axial, diameter_3d):
    mask = np.ones(shape, dtype=bool)
    assert axial_diameter(mask, spacing)[0] == pytest.approx(axial)
    assert max_3d_diameter(mask, spacing) == pytest.approx(diameter_3d)


def test_disk_diameter_and_slice():
    z, y, x = np.indices((5, 60, 60))
    mask = ((y - 30) ** 2 + (x - 30) ** 2 <= 20**2) & (z == 3)
    mask |= ((y - 30) ** 2 + (x - 30) ** 2 <= 10**2) & (z == 2)
    diameter, where = axial_diameter(mask, (0.5, 0.5, 2.0))
    assert where == 3
    assert diameter == pytest.approx(20.5)  # 41 pixels edge to edge along an axis


@pytest.mark.parametrize(
    ("diameter", "group"),
    [(4.0, "<=10 mm"), (10.0, "<=10 mm"), (10.01, "10-30 mm"), (30.0, "10-30 mm"), (31, ">30 mm")],
)
def test_size_groups(diameter, group):
    assert size_group(diameter) == group


def test_size_group_names_custom_edges():
    assert size_group_names((5, 20, 50)) == ["<=5 mm", "5-20 mm", "20-50 mm", ">50 mm"]
    with pytest.raises(ConfigError):
        LesionSettings(size_edges=(30.0, 10.0))


def test_split_instances_by_connectivity_and_label():
    labels = np.zeros((3, 6, 6), dtype=np.uint8)
    labels[0, 0, 0] = 1
    labels[1, 1, 1] = 1  # diagonal neighbour of the first: joined at 26, split at 6
    labels[0, 4:6, 4:6] = 2
    labels[0, 3, 3] = 1  # touches label 2 diagonally, but labels never merge
    _, at26 = split_instances(labels, 26)
    _, at6 = split_instances(labels, 6)
    assert [(i.source_label, i.n_voxels) for i in at26] == [(1, 2), (1, 1), (2, 4)]
    assert [(i.source_label, i.n_voxels) for i in at6] == [(1, 1), (1, 1), (1, 1), (2, 4)]
    with pytest.raises(ConfigError):
        split_instances(labels, 8)


def test_measure_lesions_values_and_filter():
    spacing = (0.8, 0.8, 2.5)
    shape = (12, 64, 64)
    big = ball(shape, (6, 32, 20), 8.0, spacing)
    small = ball(shape, (6, 32, 50), 1.5, spacing)  # < 5 mm: dropped
    labels = (big * 1 + small * 2).astype(np.uint8)
    liver = np.zeros(shape, np.uint8)
    liver[:, :, :40] = 1
    ct = np.where(big, 60, 100).astype(np.int16)
    result = measure_lesions(
        "p1",
        to_image(labels, spacing),
        image=to_image(ct, spacing),
        liver_mask=to_image(liver, spacing),
        lesion_classes={1: "metastasis", 2: "cyst"},
    )
    assert len(result.lesions) == 1
    lesion = result.lesions[0]
    assert lesion["label"] == "metastasis" and lesion["lesion_id"] == 1
    assert lesion["n_voxels"] == int(big.sum())
    assert lesion["volume_ml"] == pytest.approx(big.sum() * 0.8 * 0.8 * 2.5 / 1000)
    assert lesion["mean_hu"] == 60 and lesion["sd_hu"] == 0 and lesion["fraction_in_liver"] == 1
    assert lesion["centroid_i"] == pytest.approx(20) and lesion["centroid_k"] == pytest.approx(6)
    assert lesion["centroid_x_mm"] == pytest.approx(16.0)
    assert lesion["bbox_k_min"] == 3 and lesion["bbox_k_max"] == 9
    assert 16.0 <= lesion["diameter_mm"] <= 16.8 and lesion["size_group"] == "10-30 mm"
    summary = result.summary
    assert summary["n_lesions"] == 1 and summary["n_excluded_small"] == 1
    assert summary["liver_volume_ml"] == pytest.approx(12 * 64 * 40 * 1.6 / 1000)
    assert summary["tumour_burden"] == pytest.approx(
        lesion["volume_ml"] / summary["liver_volume_ml"]
    )
