"""A truncated NIfTI is found when it is read (ITK alone zero-fills it), and named by path."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import SimpleITK as sitk

from livermets.errors import InputFileError
from livermets.io import read_image
from livermets.io.nifti import check_nifti_complete, expected_nifti_bytes
from tests.helpers import SHARED_DATA, to_image


@pytest.fixture
def volume(tmp_path):
    array = np.arange(8 * 16 * 16, dtype=np.int16).reshape(8, 16, 16)
    return array, to_image(array)


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz"])
def test_truncated_nifti_is_refused_with_its_path(tmp_path, volume, name):
    array, image = volume
    path = tmp_path / name
    sitk.WriteImage(image, str(path), useCompression=name.endswith(".gz"))
    assert np.array_equal(sitk.GetArrayFromImage(read_image(path)), array)
    _truncate(path)
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(path))).shape == array.shape  # ITK: no error
    with pytest.raises(InputFileError, match=rf"image {path} is truncated or damaged"):
        read_image(path)


def test_header_size_of_nifti1(volume, tmp_path):
    path = tmp_path / "a.nii"
    sitk.WriteImage(volume[1], str(path), useCompression=False)
    assert expected_nifti_bytes(path.read_bytes()[:540]) == 352 + 8 * 16 * 16 * 2
    assert path.stat().st_size == 352 + 8 * 16 * 16 * 2
    assert expected_nifti_bytes(b"not a header" * 50) is None


def test_multi_member_gzip_is_complete(tmp_path, volume):
    """A valid file compressed in two gzip members (pigz-like) is accepted."""
    single = tmp_path / "one.nii.gz"
    sitk.WriteImage(volume[1], str(single))
    raw = gzip.decompress(single.read_bytes())
    multi = tmp_path / "two.nii.gz"
    multi.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    check_nifti_complete(multi)
    _truncate(multi, 0.9)
    with pytest.raises(InputFileError, match="the compressed data end early"):
        check_nifti_complete(multi)


def test_shared_nifti_files_pass():
    files = sorted((SHARED_DATA / "ibsi").rglob("*.nii.gz"))
    assert len(files) >= 20, "../shared/data/ibsi is missing (CI has ../shared beside the repo)"
    for path in files:
        check_nifti_complete(path)


def test_validate_and_lesions_refuse_a_truncated_image(cli, cohort, tmp_path):
    _truncate(cohort.parent / "p1" / "ct.nii.gz")
    code, output = cli("validate", cohort, "--json")
    assert code == 1
    problems = json.loads(output)["problems"]
    assert [(p["patient_id"], p["column"], p["code"]) for p in problems] == [
        ("p1", "image", "unreadable")]
    assert "p1/ct.nii.gz is truncated or damaged" in problems[0]["message"]
    code, output = cli("lesions", cohort, "--out", tmp_path / "l.parquet")
    assert code == 2 and "is truncated or damaged" in output
    assert not (tmp_path / "l.parquet").exists()


def test_truncated_mask_is_refused(cli, cohort):
    _truncate(cohort.parent / "p2" / "lesions.nii.gz", 0.7)
    code, output = cli("validate", cohort, "--json")
    problems = json.loads(output)["problems"]
    assert code == 1
    assert [(p["patient_id"], p["column"], p["code"]) for p in problems] == [
        ("p2", "lesion_mask", "unreadable")]
