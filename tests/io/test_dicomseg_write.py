"""DICOM-SEG writing: segments, references to the source series, frames on the source slices,
geometry read back voxel for voxel, clear errors for a label map off the series' grid."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from livermets import __version__
from livermets.errors import GeometryMismatchError, InputFileError
from livermets.io import (
    SegAlgorithm,
    SegmentSpec,
    read_dicom_seg,
    read_dicom_series,
    read_image,
    read_mask,
    read_series_headers,
    write_dicom_seg,
)
from livermets.io.dicomseg import ANATOMICAL_STRUCTURE, LIVER, lesion_type_code
from tests.helpers import SHARED_DATA, ct_datasets, write_series

SHAPE = (6, 16, 20)  # z, y, x
SEGMENTS = [
    SegmentSpec("liver", 1, LIVER, ANATOMICAL_STRUCTURE),
    SegmentSpec("metastasis", 2, lesion_type_code("metastasis")),
]


def _label_map() -> np.ndarray:
    """Two non-overlapping regions, asymmetric along every axis."""
    truth = np.zeros(SHAPE, dtype=np.uint8)
    truth[0:5, 3:10, 4:12] = 1
    truth[3, 11:15, 14:19] = 2
    truth[4, 12:14, 15:17] = 2
    return truth


def _on(array: np.ndarray, image: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    return out


def _oblique(datasets: list[pydicom.Dataset], row, col, origin, dz) -> None:
    """Re-orient a series: new row/column cosines, slices stacked along row x column."""
    normal = np.cross(row, col)
    for k, ds in enumerate(datasets):
        ds.ImageOrientationPatient = [*row, *col]
        ds.ImagePositionPatient = [float(v) for v in np.asarray(origin) + k * dz * normal]


@pytest.fixture
def series(tmp_path):
    """(folder, datasets, image): a CT series written in shuffled file order."""
    datasets = ct_datasets(np.full(SHAPE, 1024, dtype=np.int16))
    write_series(datasets, tmp_path / "ct", order=[3, 0, 5, 1, 4, 2], extension=".dcm")
    return tmp_path / "ct", datasets, read_image(tmp_path / "ct")


def test_segments_references_and_algorithm(series, tmp_path):
    folder, datasets, image = series
    path = write_dicom_seg(_on(_label_map(), image), SEGMENTS, folder, tmp_path / "seg.dcm")
    seg = hd.seg.segread(path)
    described = [(s.SegmentNumber, s.SegmentLabel) for s in seg.SegmentSequence]
    assert described == [(1, "liver"), (2, "metastasis")]
    liver, lesion = seg.SegmentSequence
    assert liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"  # SCT Liver
    assert liver.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    assert lesion.SegmentedPropertyTypeCodeSequence[0].CodeValue == "14799000"  # secondary
    assert lesion.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    for segment in seg.SegmentSequence:
        assert segment.SegmentAlgorithmType == "AUTOMATIC"
        algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
        assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("livermets", __version__)
    assert seg.SegmentationType == "BINARY"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == datasets[0].SeriesInstanceUID
    assert seg.StudyInstanceUID == datasets[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == datasets[0].FrameOfReferenceUID
    assert seg.SeriesInstanceUID != datasets[0].SeriesInstanceUID
    assert seg.PatientID == "TEST"
    referenced = {
        r.ReferencedSOPInstanceUID
        for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == {ds.SOPInstanceUID for ds in datasets}


def test_frames_lie_on_the_slices_they_reference(series, tmp_path):
    folder, datasets, image = series
    truth = _label_map()
    seg = hd.seg.segread(write_dicom_seg(_on(truth, image), SEGMENTS, folder, tmp_path / "seg.dcm"))
    by_uid = {ds.SOPInstanceUID: ds for ds in datasets}
    # empty frames are left out: one frame per (slice, segment) holding voxels
    expected = sum(int((truth[k] == v).any()) for k in range(SHAPE[0]) for v in (1, 2))
    assert seg.NumberOfFrames == expected == 7
    for frame in seg.PerFrameFunctionalGroupsSequence:
        source = frame.DerivationImageSequence[0].SourceImageSequence[0]
        position = frame.PlanePositionSequence[0].ImagePositionPatient
        assert [float(v) for v in position] == pytest.approx(
            [float(v) for v in by_uid[source.ReferencedSOPInstanceUID].ImagePositionPatient]
        )
    pixels = seg.get_pixels_by_source_instance(
        [ds.SOPInstanceUID for ds in datasets], segment_numbers=[1, 2]
    )
    assert pixels.shape == (*SHAPE, 2)
    np.testing.assert_array_equal(pixels[..., 0], truth == 1)
    np.testing.assert_array_equal(pixels[..., 1], truth == 2)


@pytest.mark.parametrize(
    ("row", "col"),
    [((1, 0, 0), (0, 1, 0)), ((0, 1, 0), (0, 0, -1)), ((0.8, 0.6, 0), (-0.6, 0.8, 0))],
    ids=["axial", "sagittal", "rotated"],
)
def test_read_back_equals_the_label_map_voxel_for_voxel(tmp_path, row, col):
    datasets = ct_datasets(np.full(SHAPE, 1024, dtype=np.int16))
    _oblique(datasets, row, col, origin=(-100.0, -120.0, 30.0), dz=2.0)
    write_series(datasets, tmp_path / "ct", order=[5, 4, 3, 2, 1, 0])
    image = read_image(tmp_path / "ct")
    truth = _label_map()
    path = write_dicom_seg(
        _on(truth, image), SEGMENTS, tmp_path / "ct", tmp_path / "seg.dcm",
        omit_empty_frames=False,
    )  # fmt: skip
    back = read_dicom_seg(path.read_bytes())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), truth)
    for get in ("GetOrigin", "GetSpacing", "GetDirection"):
        np.testing.assert_allclose(getattr(back, get)(), getattr(image, get)(), atol=1e-6)
    # with empty frames left out, the mask reader puts the frames back on the image grid
    sparse = write_dicom_seg(_on(truth, image), SEGMENTS, tmp_path / "ct", tmp_path / "s.dcm")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_mask(sparse, image)), truth)


def test_overlapping_segments_from_several_label_maps(series, tmp_path):
    _, datasets, image = series
    truth = _label_map()
    liver = (truth > 0).astype(np.uint8)  # the liver holds the lesion
    lesion = (truth == 2).astype(np.uint8)
    specs = [SEGMENTS[0], SegmentSpec("lesion", 1, layer=1)]
    algorithm = SegAlgorithm("MANUAL")
    path = write_dicom_seg(
        [_on(liver, image), _on(lesion, image)], specs, datasets, tmp_path / "seg.dcm",
        algorithm=algorithm,
    )  # fmt: skip
    seg = hd.seg.segread(path)
    assert [s.SegmentAlgorithmType for s in seg.SegmentSequence] == ["MANUAL", "MANUAL"]
    assert "SegmentationAlgorithmIdentificationSequence" not in seg.SegmentSequence[0]
    pixels = seg.get_pixels_by_source_instance(
        [ds.SOPInstanceUID for ds in datasets], segment_numbers=[1, 2]
    )
    np.testing.assert_array_equal(pixels[..., 0], liver)
    np.testing.assert_array_equal(pixels[..., 1], lesion)
    assert int(pixels[..., 0].sum()) == int(liver.sum()) == 304


def test_label_map_off_the_series_grid_is_refused(series, tmp_path):
    folder, _, image = series
    shifted = _on(_label_map(), image)
    shifted.SetOrigin((-100.0, -120.0, 32.0))  # one slice off
    with pytest.raises(GeometryMismatchError, match="origin"):
        write_dicom_seg(shifted, SEGMENTS, folder, tmp_path / "seg.dcm")
    cropped = sitk.GetImageFromArray(_label_map()[:5])
    cropped.SetSpacing(image.GetSpacing())
    cropped.SetOrigin(image.GetOrigin())
    with pytest.raises(GeometryMismatchError, match="size"):
        write_dicom_seg(cropped, SEGMENTS, folder, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()


def test_nifti_source_is_refused(series, tmp_path):
    _, _, image = series
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    with pytest.raises(InputFileError, match="must reference the DICOM slices"):
        write_dicom_seg(_on(_label_map(), image), SEGMENTS, tmp_path / "ct.nii.gz",
                        tmp_path / "seg.dcm")  # fmt: skip


def test_lesion_type_codes():
    assert lesion_type_code("Metastasis") == codes.SCT.NeoplasmSecondary
    assert lesion_type_code("hemangioma") == codes.SCT.Hemangioma
    assert lesion_type_code("hcc") == codes.SCT.Lesion
    assert lesion_type_code(None) == codes.SCT.Lesion


def test_ircadb_liver_and_tumours_on_the_real_series(tmp_path):
    patient = SHARED_DATA / "ircadb" / "3Dircadb1.1"
    ct = patient / "PATIENT_DICOM.zip"
    image = read_image(ct)
    masks = patient / "MASKS_DICOM.zip"
    liver = sitk.GetArrayFromImage(read_dicom_series(masks, prefix="MASKS_DICOM/liver")) > 0
    tumour = sitk.GetArrayFromImage(read_dicom_series(masks, prefix="MASKS_DICOM/livertumor01")) > 0
    layers = [_on(liver.astype(np.uint8), image), _on(tumour.astype(np.uint8), image)]
    specs = [SEGMENTS[0], SegmentSpec("livertumor01", 1, layer=1)]
    headers = read_series_headers(ct)
    assert len(headers) == 129 and "FrameOfReferenceUID" not in headers[0]
    with pytest.warns(UserWarning, match="no FrameOfReferenceUID"):
        path = write_dicom_seg(layers, specs, ct, tmp_path / "seg.dcm")
    seg = hd.seg.segread(path)
    assert seg.FrameOfReferenceUID  # derived from the series UID: the same for every SEG of it
    with pytest.warns(UserWarning, match="no FrameOfReferenceUID"):
        again = write_dicom_seg(layers[:1], specs[:1], ct, tmp_path / "again.dcm")
    assert hd.seg.segread(again).FrameOfReferenceUID == seg.FrameOfReferenceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == headers[0].SeriesInstanceUID
    pixels = seg.get_pixels_by_source_instance(
        [h.SOPInstanceUID for h in headers], segment_numbers=[1, 2]
    )
    np.testing.assert_array_equal(pixels[..., 0], liver)
    np.testing.assert_array_equal(pixels[..., 1], tumour)
    assert int(liver.sum()) > 100_000 and int(tumour.sum()) > 1_000
    # one frame per slice holding liver or tumour voxels
    expected = int(liver.any(axis=(1, 2)).sum() + tumour.any(axis=(1, 2)).sum())
    assert seg.NumberOfFrames == expected
