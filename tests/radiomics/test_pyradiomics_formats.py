"""pyradiomics' formats through the pipeline: batch CSV cohorts, exampleCT.yaml, preset names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.radiomics import preset_params
from livermets.radiomics.extract import extract_features
from tests.cohort.test_pyradiomics_batch import write_batch
from tests.radiomics.conftest import write_cohort
from tests.radiomics.test_pyradiomics_params import EXAMPLE_CT, pyradiomics_features

FEATURE_PREFIXES = ("original_", "log-sigma-", "wavelet-")


def _livermets_manifest(cohort, path, **extra):
    """The livermets manifest of the same patients (image, lesion mask and extra columns)."""
    table = pd.read_csv(cohort, dtype={"patient_id": str})
    out = table[["patient_id", "image", "lesion_mask"]].assign(**extra)
    out.to_csv(path, index=False)
    return path


@pytest.fixture
def cohort(tmp_path):
    """Two patients with two lesions each (mask values 1 and 2), in tmp_path/cohort."""
    return write_cohort(tmp_path / "cohort", 2)


def test_batch_csv_gives_the_features_of_the_livermets_manifest(cohort, tmp_path):
    batch = write_batch(cohort, tmp_path / "batch")
    ours = _livermets_manifest(cohort, tmp_path / "cohort" / "ours.csv")
    from_batch = extract_features(batch, "pyradiomics-default")
    from_manifest = extract_features(ours, "pyradiomics-default")
    assert len(from_batch) == 4 and from_batch["original_shape_VoxelVolume"].gt(0).all()
    pd.testing.assert_frame_equal(from_batch, from_manifest)


def test_batch_label_selects_one_mask_value(cohort, tmp_path):
    """Label 2 (pyradiomics: the ROI is mask == 2) gives the features of lesion 2 alone."""
    batch = write_batch(cohort, tmp_path / "batch", Label=[2, 2])
    ours = _livermets_manifest(cohort, tmp_path / "cohort" / "ours.csv")
    both = extract_features(ours, "pyradiomics-default")
    only_two = extract_features(batch, "pyradiomics-default")
    assert list(only_two["patient_id"]) == ["p1", "p2"]
    second = both[both["lesion_id"] == 2].reset_index(drop=True)
    features = [c for c in both.columns if c.startswith("original_")]
    assert len(features) == 107
    np.testing.assert_array_equal(only_two[features].to_numpy(), second[features].to_numpy())
    # a pyradiomics file's label does the same, and a batch Label overrides it
    label_file = tmp_path / "label2.yaml"
    label_file.write_text("setting: {binWidth: 25, label: 2}\nfeatureClass: {shape: }\n")
    by_file = extract_features(ours, label_file)
    assert list(by_file["original_shape_VoxelVolume"]) == list(second["original_shape_VoxelVolume"])
    batch_one = write_batch(cohort, tmp_path / "batch1", Label=[1, 1])
    by_batch = extract_features(batch_one, label_file)
    first = both[both["lesion_id"] == 1].reset_index(drop=True)
    assert list(by_batch["original_shape_VoxelVolume"]) == list(first["original_shape_VoxelVolume"])


NO_RESAMPLING = (
    "imageType: {Original: {}, LoG: {sigma: [1.0, 3.0]}, Wavelet: {}}\n"
    "featureClass: {firstorder: , glcm: [Contrast, Idmn], glszm: }\n"
    "setting: {binWidth: 10, label: 2, padDistance: 4, preCrop: %s}\n"
)
NORMALISED = (  # as pyradiomics' exampleMR_3mm.yaml: z-score of the whole image, then resampling
    "imageType: {Original: {}, LoG: {sigma: [2.0]}}\n"
    "featureClass: {firstorder: , glcm: [Contrast, Idmn], glszm: }\n"
    "setting: {normalize: true, normalizeScale: 100, removeOutliers: 3, binWidth: 5,\n"
    "          resampledPixelSpacing: [2, 2, 2], interpolator: sitkBSpline, label: 2}\n"
)


@pytest.mark.parametrize("case", ["exampleCT", "precrop", "whole-image", "normalised"])
def test_pyradiomics_file_through_the_pipeline_equals_pyradiomics(cohort, tmp_path, case):
    """``extract_features(cohort, FILE)`` equals pyradiomics' extractor(FILE) on each whole
    image and label map: exampleCT.yaml (1 mm B-spline, LoG, wavelet), and LoG + wavelet without
    resampling on the bounding box + padDistance (preCrop) or the whole image, and z-score
    normalisation of the whole image before resampling."""
    path = EXAMPLE_CT
    if case != "exampleCT":
        path = tmp_path / "params.yaml"
        text = NO_RESAMPLING % ("true" if case == "precrop" else "false")
        path.write_text(NORMALISED if case == "normalised" else text)
    table = extract_features(cohort, path)
    assert list(table["lesion_id"]) == [1, 1]  # the label keeps one mask value per patient
    manifest = pd.read_csv(cohort)
    for row, (_, got) in zip(manifest.itertuples(), table.iterrows(), strict=True):
        image = sitk.ReadImage(str(cohort.parent / row.image))
        mask = sitk.ReadImage(str(cohort.parent / row.lesion_mask))
        expected = pyradiomics_features(str(path), image, mask)
        ours = {c: got[c] for c in table.columns if c.startswith(FEATURE_PREFIXES)}
        assert sorted(ours) == sorted(expected)
        n_images = {"exampleCT": 14, "normalised": 2}.get(case, 11)
        assert len(ours) == (1218 if case == "exampleCT" else n_images * (18 + 2 + 16))
        for name, value in expected.items():
            assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-300, nan_ok=True), name


def test_preset_name_on_the_command_line(features_cli, cohort, tmp_path):
    out = tmp_path / "f.csv"
    code, output = features_cli(cohort, "--params", "pyradiomics-default", "--out", out,
                                "--workers", 1, "--json")  # fmt: skip
    assert code == 0, output
    table = pd.read_csv(out)
    assert len(table) == 4
    assert set(table["params_hash"]) == {preset_params("pyradiomics-default").params_hash()}
    assert sum(c.startswith("original_") for c in table.columns) == 107
    code, output = features_cli(cohort, "--params", "pyradiomics-defualt", "--out", out)
    assert code == 2 and "does not exist" in output and "pyradiomics-default" in output


def test_pyradiomics_file_on_the_command_line(features_cli, cohort, tmp_path):
    params = tmp_path / "fast.yaml"
    params.write_text("setting: {binWidth: 25, label: 1}\nfeatureClass: {shape: , glcm: }\n")
    batch = write_batch(cohort, tmp_path / "batch")
    out = tmp_path / "f.csv"
    code, output = features_cli(batch, "--params", params, "--out", out, "--workers", 1)
    assert code == 0, output
    table = pd.read_csv(out)
    assert list(table["patient_id"]) == ["p1", "p2"]
    assert sum(c.startswith("original_glcm_") for c in table.columns) == 24
