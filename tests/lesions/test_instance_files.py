"""Lesion instance maps (voxel = lesion_id of the lesions table) and per-lesion DICOM-SEGs."""

from __future__ import annotations

import json

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

from livermets.io import Geometry, read_image, read_mask
from livermets.lesions import measure_lesions
from tests.helpers import ball, make_dicom_cohort, to_image


def test_instance_map_holds_kept_lesion_ids():
    spacing = (0.8, 0.8, 2.5)
    shape = (12, 64, 64)
    small = ball(shape, (2, 32, 32), 1.5, spacing)  # first in scan order, < 5 mm: dropped
    first = ball(shape, (7, 32, 14), 6.0, spacing)
    second = ball(shape, (7, 32, 48), 5.0, spacing)
    labels = (small | first | second).astype(np.uint8)
    result = measure_lesions("p1", to_image(labels, spacing), with_instance_map=True)
    assert [les["lesion_id"] for les in result.lesions] == [1, 2]
    assert result.summary["n_excluded_small"] == 1
    ids = sitk.GetArrayFromImage(result.instance_map)
    np.testing.assert_array_equal(ids == 1, first)
    np.testing.assert_array_equal(ids == 2, second)
    assert set(np.unique(ids)) == {0, 1, 2} and not ids[small].any()
    assert [int((ids == les["lesion_id"]).sum()) for les in result.lesions] == [
        les["n_voxels"] for les in result.lesions
    ]
    assert Geometry.of(result.instance_map) == Geometry.of(to_image(labels, spacing))
    assert measure_lesions("p1", to_image(labels, spacing)).instance_map is None


def test_lesions_cli_writes_instance_maps_matching_the_table(cli, cohort, tmp_path):
    out = tmp_path / "out" / "lesions.parquet"
    (tmp_path / "out" / "lesions_instances").mkdir(parents=True)
    (tmp_path / "out" / "lesions_instances" / "old.nii.gz").write_text("from an earlier run")
    code, output = cli("lesions", cohort, "--out", out, "--min-diameter", "8", "--json")
    assert code == 0, output
    assert json.loads(output)["instances"] == str(tmp_path / "out" / "lesions_instances")
    table = pd.read_parquet(out)
    patients = pd.read_parquet(tmp_path / "out" / "lesions_patients.parquet")
    assert patients["instance_map"].tolist() == [
        "lesions_instances/p1.nii.gz",
        "lesions_instances/p2.nii.gz",
    ]
    assert sorted(p.name for p in (tmp_path / "out" / "lesions_instances").iterdir()) == [
        "p1.nii.gz",
        "p2.nii.gz",
    ]
    for pid, path in zip(patients["patient_id"], patients["instance_map"], strict=True):
        instance_map = sitk.ReadImage(str(tmp_path / "out" / path))
        image = read_image(cohort.parent / pid / "ct.nii.gz")
        assert Geometry.of(instance_map) == Geometry.of(image)
        ids = sitk.GetArrayFromImage(instance_map)
        rows = table[table["patient_id"] == pid]
        assert sorted(set(np.unique(ids)) - {0}) == rows["lesion_id"].tolist() == [1]
        voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
        for row in rows.itertuples():
            count = int((ids == row.lesion_id).sum())
            assert count == row.n_voxels
            assert count == pytest.approx(row.volume_ml / voxel_ml)
        # the 6 mm lesion (value 2 of the mask) is under --min-diameter 8: 0 in the map
        lesion_mask = sitk.GetArrayFromImage(
            sitk.ReadImage(str(cohort.parent / pid / "lesions.nii.gz"))
        )
        np.testing.assert_array_equal(ids > 0, lesion_mask == 1)
        assert (lesion_mask == 2).sum() > 0


def test_no_instance_maps(cli, cohort, tmp_path):
    out = tmp_path / "lesions.csv"
    code, output = cli("lesions", cohort, "--out", out, "--no-instance-maps")
    assert code == 0, output
    assert not (tmp_path / "lesions_instances").exists()
    assert "instance_map" not in pd.read_csv(tmp_path / "lesions_patients.csv").columns


def test_dicom_seg_needs_dicom_images(cli, cohort, tmp_path):
    out = tmp_path / "out" / "lesions.parquet"
    code, output = cli("lesions", cohort, "--out", out, "--dicom-seg")
    assert code == 2, output
    assert "not DICOM series" in output and "p1, p2" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_dicom_seg_has_one_segment_per_lesion(cli, tmp_path):
    manifest = make_dicom_cohort(tmp_path / "cohort")
    out = tmp_path / "out" / "lesions.parquet"
    code, output = cli("lesions", manifest, "--out", out, "--dicom-seg", "--json")
    assert code == 0, output
    assert json.loads(output)["dicom_seg"] == 2
    table = pd.read_parquet(out)
    # the CT read from DICOM gives the HU of the NIfTI cohort
    assert table.groupby("label")["mean_hu"].mean().round(-1).to_dict() == {
        "hemangioma": 140.0,
        "metastasis": 50.0,
    }
    patients = pd.read_parquet(tmp_path / "out" / "lesions_patients.parquet")
    assert patients["dicom_seg"].tolist() == [
        "lesions_instances/p1_seg.dcm",
        "lesions_instances/p2_seg.dcm",
    ]
    for pid, seg_path, map_path in patients[["patient_id", "dicom_seg", "instance_map"]].values:
        seg = hd.seg.segread(tmp_path / "out" / seg_path)
        rows = table[table["patient_id"] == pid]
        assert [s.SegmentLabel for s in seg.SegmentSequence] == ["lesion 1", "lesion 2"]
        assert [s.TrackingID for s in seg.SegmentSequence] == ["lesion 1", "lesion 2"]
        assert rows["label"].tolist() == ["metastasis", "hemangioma"]
        types = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence]
        assert types == ["14799000", "400210000"]  # SCT neoplasm, secondary; hemangioma
        assert {s.SegmentAlgorithmType for s in seg.SegmentSequence} == {"SEMIAUTOMATIC"}
        image = read_image(tmp_path / "cohort" / pid / "ct_dicom")
        source = pydicom.dcmread(tmp_path / "cohort" / pid / "ct_dicom" / "image_0.dcm")
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
        ids = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / map_path)))
        back = sitk.GetArrayFromImage(read_mask(tmp_path / "out" / seg_path, image))
        np.testing.assert_array_equal(back, ids)
        assert [int((back == i).sum()) for i in rows["lesion_id"]] == rows["n_voxels"].tolist()
