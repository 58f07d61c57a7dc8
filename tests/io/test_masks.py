"""Masks: value conventions, RTSTRUCT, DICOM-SEG, geometry checks and resampling."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from livermets.errors import GeometryMismatchError, MaskError
from livermets.io import read_image, read_mask
from tests.helpers import SHARED_DATA, ct_datasets, to_image, write_series


@pytest.fixture
def grid() -> sitk.Image:
    return to_image(np.zeros((4, 6, 8), dtype=np.int16))


def test_0_255_mask_becomes_binary(tmp_path, grid):
    array = np.zeros((4, 6, 8), dtype=np.uint8)
    array[1:3, 2:4, 2:5] = 255
    sitk.WriteImage(to_image(array), str(tmp_path / "m.nrrd"))
    mask = sitk.GetArrayFromImage(read_mask(tmp_path / "m.nrrd", grid))
    assert set(np.unique(mask)) == {0, 1} and mask.sum() == 12


def test_label_map_keeps_labels(tmp_path, grid):
    array = np.zeros((4, 6, 8), dtype=np.uint16)
    array[0, 0, :3] = 1
    array[3, 5, 5:] = 300
    sitk.WriteImage(to_image(array), str(tmp_path / "m.mha"))
    mask = sitk.GetArrayFromImage(read_mask(tmp_path / "m.mha", grid))
    assert mask.dtype == np.uint16
    assert {int(v): int((mask == v).sum()) for v in np.unique(mask)} == {0: 186, 1: 3, 300: 3}


def test_probability_map_is_refused(tmp_path, grid):
    sitk.WriteImage(to_image(np.full((4, 6, 8), 0.3, np.float32)), str(tmp_path / "p.nii.gz"))
    with pytest.raises(MaskError, match="non-integer"):
        read_mask(tmp_path / "p.nii.gz", grid)


def test_geometry_mismatch_names_both_geometries(tmp_path, grid):
    shifted = to_image(np.ones((4, 6, 8), np.uint8), spacing=(0.8, 0.8, 3.0))
    sitk.WriteImage(shifted, str(tmp_path / "m.nii.gz"))
    with pytest.raises(GeometryMismatchError) as info:
        read_mask(tmp_path / "m.nii.gz", grid)
    message = str(info.value)
    assert "spacing" in message and "(0.8, 0.8, 3)" in message and "(0.8, 0.8, 2.5)" in message
    assert "--resample-masks" in message


def test_resample_masks_warns_and_lands_on_the_grid(tmp_path, grid):
    fine = np.zeros((8, 6, 8), dtype=np.uint8)
    fine[2:6, 1:5, 2:6] = 1
    sitk.WriteImage(to_image(fine, spacing=(0.8, 0.8, 1.25)), str(tmp_path / "m.nii.gz"))
    with pytest.warns(UserWarning, match="resampled with nearest neighbour"):
        mask = read_mask(tmp_path / "m.nii.gz", grid, resample=True)
    assert mask.GetSize() == grid.GetSize() and mask.GetSpacing() == grid.GetSpacing()
    assert sitk.GetArrayFromImage(mask)[1:3, 1:5, 2:6].all()


def test_rtstruct_rasterises_like_the_ibsi_nifti_mask():
    phantom = SHARED_DATA / "ibsi" / "ibsi_1_ct_radiomics_phantom"
    image = read_image(phantom / "dicom" / "image")
    mask = read_mask(phantom / "dicom" / "mask" / "DCM_RS_00060.dcm", image)
    nifti = read_mask(phantom / "nifti" / "mask" / "mask.nii.gz")
    a, b = sitk.GetArrayFromImage(mask) > 0, sitk.GetArrayFromImage(nifti) > 0
    assert a.sum() == 125256 and (a ^ b).sum() == 0


def test_rtstruct_without_image_is_a_clear_error():
    path = SHARED_DATA / "ibsi/ibsi_1_ct_radiomics_phantom/dicom/mask/DCM_RS_00060.dcm"
    with pytest.raises(MaskError, match="RTSTRUCT"):
        read_mask(path)


def test_dicom_seg_round_trip(tmp_path):
    stored = np.full((5, 16, 20), 1024, dtype=np.int16)
    datasets = ct_datasets(stored)
    write_series(datasets, tmp_path / "ct", extension=".dcm")
    truth = np.zeros((5, 16, 20), dtype=np.uint8)
    truth[1:4, 4:10, 5:12] = 1
    truth[2, 12:15, 15:19] = 2
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=name,
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Liver,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n, name in ((1, "liver"), (2, "lesion"))
    ]
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=truth,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="livermets-test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(tmp_path / "seg.dcm")
    image = read_image(tmp_path / "ct")
    mask = read_mask(tmp_path / "seg.dcm", image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), truth)
