"""QA on real data: TotalSegmentator's example CT (liver, label 5) and 3D-IRCADb patient 1."""

from __future__ import annotations

import warnings
from pathlib import Path

import cc3d
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.cohort import load_manifest
from livermets.segment import MatchSettings, QASettings, run_qa
from tests.helpers import SHARED_DATA

EXAMPLE = SHARED_DATA / "totalsegmentator_example"
LIVER_VOXELS = 38634  # README of the example: liver (label 5) voxels of example_seg.nii.gz


def _manifest(path: Path, masks: dict[str, Path], pid: str = "example") -> Path:
    image = EXAMPLE / "example_ct_sm.nii.gz"
    row = {"patient_id": pid, "image": str(image), **{k: str(v) for k, v in masks.items()}}
    pd.DataFrame([row]).to_csv(path, index=False)
    return path


def _fine_copy(seg: sitk.Image) -> sitk.Image:
    """The label map on a grid of half the spacing whose voxels nest in the original ones."""
    direction = np.array(seg.GetDirection()).reshape(3, 3)
    spacing = np.array(seg.GetSpacing())
    grid = sitk.Image([2 * s for s in seg.GetSize()], sitk.sitkUInt8)
    grid.SetSpacing(tuple(spacing / 2))
    grid.SetDirection(seg.GetDirection())
    grid.SetOrigin(tuple(np.array(seg.GetOrigin()) - direction @ (spacing / 4)))
    return sitk.Resample(seg, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)


def _qa(tmp_path, predicted: sitk.Image, name: str):
    ref = _manifest(tmp_path / "reference.csv", {"liver_mask": EXAMPLE / "example_seg.nii.gz"})
    sitk.WriteImage(predicted, str(tmp_path / f"{name}.nii.gz"))
    pred = _manifest(tmp_path / f"{name}.csv", {"liver_mask": tmp_path / f"{name}.nii.gz"})
    settings = QASettings(reference_labels={"liver": (5,)}, predicted_labels={"liver": (5,)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resampling off-grid copies warns by design
        return run_qa(load_manifest(ref), load_manifest(pred), settings)


@pytest.mark.parametrize("copy", ["fine_grid", "lps_orientation"])
def test_example_liver_against_resampled_copies_of_itself(tmp_path, copy):
    seg = sitk.ReadImage(str(EXAMPLE / "example_seg.nii.gz"))
    other = _fine_copy(seg) if copy == "fine_grid" else sitk.DICOMOrient(seg, "LPS")
    assert other.GetSize() != seg.GetSize() or other.GetDirection() != seg.GetDirection()
    row = _qa(tmp_path, other, copy).structures.iloc[0]
    assert row["reference_voxels"] == LIVER_VOXELS
    assert (row["dice"], row["iou"], row["hd95_mm"], row["asd_mm"]) == (1.0, 1.0, 0.0, 0.0)


def test_example_liver_against_a_perturbed_copy_with_known_dice(tmp_path):
    seg = sitk.ReadImage(str(EXAMPLE / "example_seg.nii.gz"))
    array = sitk.GetArrayFromImage(seg)
    liver = array == 5
    top = int(np.flatnonzero(liver.any(axis=(1, 2))).max())
    removed = int(liver[top - 2 : top + 1].sum())  # the liver in its three highest slices
    perturbed = array.copy()
    perturbed[top - 2 : top + 1][liver[top - 2 : top + 1]] = 0
    added = 4 * 4 * 4
    assert not (perturbed[0:4, 0:4, 0:4] == 5).any()
    perturbed[0:4, 0:4, 0:4] = 5  # a false cube in a corner
    copy = sitk.GetImageFromArray(perturbed)
    copy.CopyInformation(seg)
    row = _qa(tmp_path, copy, "perturbed").structures.iloc[0]
    kept = LIVER_VOXELS - removed
    assert row["dice"] == pytest.approx(2 * kept / (LIVER_VOXELS + kept + added), abs=1e-12)
    assert row["iou"] == pytest.approx(kept / (LIVER_VOXELS + added), abs=1e-12)
    assert row["predicted_voxels"] == kept + added
    assert row["hd95_mm"] > 0 and row["asd_mm"] > 0


@pytest.fixture(scope="module")
def ircadb(tmp_path_factory) -> Path:
    """3D-IRCADb patient 1 converted into a livermets cohort."""
    from livermets.datasets import convert_ircadb

    out = tmp_path_factory.mktemp("ircadb")
    return convert_ircadb(SHARED_DATA / "ircadb", out, patients=[1])


def test_ircadb_liver_and_lesions_against_known_perturbations(ircadb, tmp_path):
    reference = load_manifest(ircadb)
    row = reference.rows()[0]
    liver_img = sitk.ReadImage(str(row.masks["liver_mask"]))
    liver = sitk.GetArrayFromImage(liver_img) > 0
    lesions = sitk.GetArrayFromImage(sitk.ReadImage(str(row.masks["lesion_mask"])))
    # liver: drop its lowest slice
    low = int(np.flatnonzero(liver.any(axis=(1, 2))).min())
    pred_liver = liver.copy()
    pred_liver[low] = False
    # lesions: drop the smallest reference lesion, add one false lesion of 5x5x3 voxels
    components = cc3d.connected_components(lesions > 0, connectivity=26)
    sizes = np.bincount(components.ravel())[1:]
    n_ref = len(sizes)
    pred_lesions = (lesions > 0).astype(np.uint8)
    pred_lesions[components == int(sizes.argmin()) + 1] = 0
    free = np.argwhere(liver & (lesions == 0))
    z, y, x = free[len(free) // 2]
    box = (slice(z - 1, z + 2), slice(y - 2, y + 3), slice(x - 2, x + 3))
    assert not (lesions[box] > 0).any()
    pred_lesions[box] = 1
    paths = {}
    for name, array in (("liver_mask", pred_liver), ("lesion_mask", pred_lesions)):
        img = sitk.GetImageFromArray(array.astype(np.uint8))
        img.CopyInformation(liver_img)
        paths[name] = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(img, str(paths[name]))
    predicted = load_manifest(_manifest(tmp_path / "pred.csv", paths, row.patient_id))
    qa = run_qa(reference, predicted, QASettings(match=MatchSettings("dice", 0.5)))
    structures = qa.structures.set_index("structure")
    n_liver, n_lost = int(liver.sum()), int(liver[low].sum())
    assert structures.loc["liver", "dice"] == pytest.approx(
        2 * (n_liver - n_lost) / (2 * n_liver - n_lost), abs=1e-12
    )
    # every kept lesion is predicted exactly; the lesion structure loses one, gains 75 voxels
    n_les = int((lesions > 0).sum())
    kept = n_les - int(sizes.min())
    assert structures.loc["lesions", "dice"] == pytest.approx(
        2 * kept / (n_les + kept + 75), abs=1e-12
    )
    overall = qa.detection.set_index("size_group").loc["all"]
    assert overall["n_lesions"] == n_ref
    assert overall["detected"] == n_ref - 1
    assert overall["false_positives"] == 1 and overall["fp_per_patient"] == 1.0
    assert overall["detected_dice_mean"] == pytest.approx(1.0)
    assert qa.lesions["size_group"].notna().all()
