"""pyradiomics' own baselines (brain1, breast1 under 8 settings, 8 classes) to 1e-6."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.radiomics import get_engine
from livermets.radiomics.params import Extraction
from tests.helpers import SHARED_DATA

CASES = SHARED_DATA / "pyradiomics_testcases"
CLASSES = ["firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
# pyradiomics' brain1 shape baseline was written by pyradiomics 2.0.1b1; its mesh changed in
# 2.1 (the brain1_resampling shape baseline, written by 2.1, matches to 1e-6). pyradiomics' own
# tests accept 3 %; these 4 values agree to 1e-3.
STALE = {
    ("brain1", "original_shape_MeshVolume"),
    ("brain1", "original_shape_SurfaceArea"),
    ("brain1", "original_shape_Sphericity"),
    ("brain1", "original_shape_SurfaceVolumeRatio"),
}


def extraction_from_settings(settings: dict, feature_class: str) -> Extraction:
    """Our schema from a pyradiomics settings dict (the baseline's diagnostics row)."""
    data: dict = {
        "feature_classes": [feature_class],
        "voxel_array_shift": settings.get("voxelArrayShift", 0),
        "texture": "2d" if settings.get("force2D") else "3d",
        "texture_min_voxels": 1,
    }
    if settings.get("binCount"):
        data["discretisation"] = {"bin_count": settings["binCount"]}
    else:
        data["discretisation"] = {"bin_width": settings.get("binWidth", 25)}
    if settings.get("resampledPixelSpacing"):
        data["resampling"] = {
            "spacing": settings["resampledPixelSpacing"],
            "interpolator": "bspline",
            "pad_distance": settings.get("padDistance", 5),
        }
    reseg = settings.get("resegmentRange")
    if reseg is not None:
        data["resegmentation"] = {
            "range": [reseg[0], reseg[1] if len(reseg) > 1 else None],
            "mode": settings.get("resegmentMode", "absolute"),
        }
    if settings.get("normalize"):
        data["normalisation"] = {
            "scale": settings.get("normalizeScale", 1),
            "remove_outliers": settings.get("removeOutliers"),
        }
    if settings.get("weightingNorm"):
        data["texture_aggregation"] = "merge"
    return Extraction.model_validate(data)


def _cases():
    for cls in CLASSES:
        table = pd.read_csv(CASES / "baseline" / f"baseline_{cls}.csv", index_col=0)
        for case in table.columns:
            if case.split("_")[0] in ("brain1", "breast1"):
                yield cls, case


@pytest.mark.parametrize(("feature_class", "case"), list(_cases()))
def test_baseline_reproduces(feature_class, case):
    table = pd.read_csv(CASES / "baseline" / f"baseline_{feature_class}.csv", index_col=0)
    settings = ast.literal_eval(table.loc["diagnostics_Configuration_Settings", case])
    name = case.split("_")[0]
    image = sitk.ReadImage(str(CASES / f"{name}_image.nrrd"))
    mask = sitk.ReadImage(str(CASES / f"{name}_label.nrrd"))
    if feature_class == "shape2D":  # the 2D cases use one slice of the label
        box = ast.literal_eval(table.loc["diagnostics_Mask-corrected_BoundingBox", case])
        labels = sitk.GetArrayFromImage(mask)
        one = np.zeros_like(labels)
        one[box[2]] = labels[box[2]]
        sliced = sitk.GetImageFromArray(one)
        sliced.CopyInformation(mask)
        mask = sliced
    features = get_engine("pyradiomics").extract(
        image, mask, extraction_from_settings(settings, feature_class)
    )
    expected = {k: float(v) for k, v in table[case].items() if not k.startswith("diagnostics")}
    assert set(expected) <= set(features)
    for feature, value in expected.items():
        rtol = 1e-3 if (case, feature) in STALE else 1e-6
        assert features[feature] == pytest.approx(value, rel=rtol, abs=1e-12), feature
