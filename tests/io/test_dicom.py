"""DICOM series reading: order, geometry, rescale, zips, several series, missing tags."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import SimpleITK as sitk

from livermets.errors import DicomSeriesError
from livermets.io import read_dicom_series, read_image, write_image
from tests.helpers import SHARED_DATA, ct_datasets, write_series


@pytest.fixture
def stored() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 2000, size=(6, 8, 10)).astype(np.int16)


def test_series_order_geometry_and_rescale(tmp_path, stored):
    datasets = ct_datasets(stored, slope=2.0, intercept=-1024.0)
    write_series(datasets, tmp_path / "s", order=[3, 0, 5, 1, 4, 2])  # shuffled, no extension
    image = read_image(tmp_path / "s")
    assert image.GetSize() == (10, 8, 6)
    assert image.GetSpacing() == pytest.approx((0.7, 0.7, 2.0))
    assert image.GetOrigin() == pytest.approx((-100.0, -120.0, 30.0))
    assert image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), stored * 2 - 1024)


def test_fractional_rescale_gives_float(tmp_path, stored):
    write_series(ct_datasets(stored, slope=0.5, intercept=-1000.5), tmp_path / "s")
    array = sitk.GetArrayFromImage(read_image(tmp_path / "s"))
    assert array.dtype == np.float32
    np.testing.assert_allclose(array, stored * 0.5 - 1000.5)


def test_zip_equals_folder(tmp_path, stored):
    write_series(ct_datasets(stored), tmp_path / "s")
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as archive:
        for f in (tmp_path / "s").iterdir():
            archive.write(f, f"PATIENT_DICOM/{f.name}")
    a, b = read_image(tmp_path / "s"), read_image(tmp_path / "s.zip")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    assert a.GetOrigin() == b.GetOrigin() and a.GetSpacing() == b.GetSpacing()


def test_several_series_are_refused_with_their_uids(tmp_path, stored):
    first, second = ct_datasets(stored), ct_datasets(stored[:3])
    write_series(first, tmp_path / "mixed")
    for n, ds in enumerate(second):
        ds.save_as(tmp_path / "mixed" / f"other_{n}.dcm", enforce_file_format=True)
    with pytest.raises(DicomSeriesError) as info:
        read_image(tmp_path / "mixed")
    message = str(info.value)
    assert "2 DICOM series" in message
    assert first[0].SeriesInstanceUID in message and second[0].SeriesInstanceUID in message
    chosen = read_dicom_series(tmp_path / "mixed", series_uid=second[0].SeriesInstanceUID)
    assert chosen.GetSize() == (10, 8, 3)


def test_missing_optional_tags_are_tolerated(tmp_path, stored):
    datasets = ct_datasets(stored)
    for ds in datasets:
        for tag in ("SeriesDescription", "RescaleSlope", "RescaleIntercept", "Manufacturer"):
            if tag in ds:
                delattr(ds, tag)
    write_series(datasets, tmp_path / "s", order=[5, 4, 3, 2, 1, 0])
    array = sitk.GetArrayFromImage(read_image(tmp_path / "s"))
    np.testing.assert_array_equal(array, stored)


def test_missing_positions_fall_back_to_instance_number(tmp_path, stored):
    datasets = ct_datasets(stored)
    for ds in datasets:
        del ds.ImagePositionPatient
    write_series(datasets, tmp_path / "s", order=[2, 0, 1, 5, 3, 4])
    with pytest.warns(UserWarning, match="InstanceNumber"):
        image = read_image(tmp_path / "s")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), stored - 1024)
    assert image.GetSpacing()[2] == pytest.approx(2.0)


def test_missing_slice_is_an_error(tmp_path, stored):
    datasets = ct_datasets(stored)
    write_series(datasets[:2] + datasets[3:], tmp_path / "s")
    with pytest.raises(DicomSeriesError, match="irregular"):
        read_image(tmp_path / "s")


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not dicom")
    with pytest.raises(DicomSeriesError, match="no DICOM files"):
        read_image(tmp_path / "empty")


def test_ircadb_zip_equals_written_nifti(tmp_path):
    zipped = SHARED_DATA / "ircadb" / "3Dircadb1.1" / "PATIENT_DICOM.zip"
    image = read_image(zipped)
    assert image.GetSize() == (512, 512, 129)
    assert image.GetSpacing() == pytest.approx((0.57, 0.57, 1.6), abs=1e-6)
    write_image(image, tmp_path / "ct.nii.gz")
    again = read_image(tmp_path / "ct.nii.gz")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(again))
    assert again.GetSpacing() == pytest.approx(image.GetSpacing())
    assert again.GetOrigin() == pytest.approx(image.GetOrigin())
    values = sitk.GetArrayViewFromImage(image)
    assert values.min() == -1024 and values.dtype == np.int16
