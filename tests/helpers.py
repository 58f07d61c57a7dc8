"""Test helpers: tiny NIfTI cohorts and DICOM series written on the fly (no data in the repo)."""

from __future__ import annotations

import datetime
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def to_image(array: np.ndarray, spacing=(0.8, 0.8, 2.5), origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    """A SimpleITK image from a (z, y, x) array."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def ball(shape, centre, radius_mm, spacing=(0.8, 0.8, 2.5)) -> np.ndarray:
    """Boolean ball of a physical radius in a (z, y, x) grid with (x, y, z) spacing."""
    z, y, x = np.indices(shape)
    cz, cy, cx = centre
    sx, sy, sz = spacing
    return ((z - cz) * sz) ** 2 + ((y - cy) * sy) ** 2 + ((x - cx) * sx) ** 2 <= radius_mm**2


def make_patient(root: Path, pid: str, shape=(12, 64, 64), lesions=((6, 32, 24, 6.0),)) -> dict:
    """Write one tiny CT patient (air, body, liver, lesions) and return its manifest row."""
    spacing = (0.8, 0.8, 2.5)
    rng = np.random.default_rng(zlib.crc32(pid.encode()))  # hash() changes per process
    ct = np.full(shape, -1000, dtype=np.int16)
    body = ball(shape, (shape[0] // 2, 32, 32), 24.0, spacing)
    ct[body] = 40
    liver = ball(shape, (shape[0] // 2, 32, 28), 16.0, spacing) & body
    ct[liver] = 100
    lesion_map = np.zeros(shape, dtype=np.uint8)
    classes = []
    for value, (cz, cy, cx, r) in enumerate(lesions, start=1):
        region = ball(shape, (cz, cy, cx), r, spacing)
        lesion_map[region] = value
        ct[region] = 50 if value % 2 else 140
        classes.append(
            {"lesion_label": value, "label": "metastasis" if value % 2 else "hemangioma"}
        )
    ct = (ct + rng.normal(0, 5, shape)).astype(np.int16)
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(to_image(ct, spacing), str(folder / "ct.nii.gz"))
    sitk.WriteImage(to_image(liver.astype(np.uint8), spacing), str(folder / "liver.nii.gz"))
    sitk.WriteImage(to_image(lesion_map, spacing), str(folder / "lesions.nii.gz"))
    pd.DataFrame(classes).to_csv(folder / "lesion_labels.csv", index=False)
    return {
        "patient_id": pid,
        "image": f"{pid}/ct.nii.gz",
        "lesion_mask": f"{pid}/lesions.nii.gz",
        "liver_mask": f"{pid}/liver.nii.gz",
        "lesion_labels": f"{pid}/lesion_labels.csv",
        "label": 1,
        "center": "A",
        "age": 60 + len(pid),
        "sex": "F",
    }


def make_cohort(root: Path, n: int = 2) -> Path:
    """A tiny valid cohort of n patients; returns the manifest path."""
    rows = [
        make_patient(root, f"p{i}", lesions=((6, 32, 24, 6.0), (6, 30, 36, 3.0)))
        for i in range(1, n + 1)
    ]
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def ct_datasets(
    volume: np.ndarray,
    spacing=(0.7, 0.7, 2.0),
    origin=(-100.0, -120.0, 30.0),
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
) -> list[Dataset]:
    """One CT DICOM dataset per slice of a (z, y, x) volume of stored values."""
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    out = []
    for k, plane in enumerate(volume):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientID = "TEST"
        ds.PatientName = "Test^Patient"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = datetime.date(2020, 1, 1).strftime("%Y%m%d")
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.Modality = "CT"
        ds.Manufacturer = "livermets-test"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = plane.astype(np.int16).tobytes()
        out.append(ds)
    return out


def write_series(datasets: list[Dataset], folder: Path, order=None, extension: str = "") -> None:
    """Write datasets as files named image_<n><extension> (optionally in a shuffled order)."""
    folder.mkdir(parents=True, exist_ok=True)
    order = list(range(len(datasets))) if order is None else order
    for n, idx in enumerate(order):
        datasets[idx].save_as(folder / f"image_{n}{extension}", enforce_file_format=True)


def write_dicom_copy(image: sitk.Image, folder: Path) -> list[Dataset]:
    """Write an axial, identity-direction CT image as a DICOM series (stored = HU + 1024)."""
    assert np.allclose(image.GetDirection(), np.eye(3).ravel())
    stored = sitk.GetArrayFromImage(image).astype(np.int32) + 1024
    datasets = ct_datasets(
        stored.astype(np.int16), spacing=image.GetSpacing(), origin=image.GetOrigin()
    )
    write_series(datasets, folder, extension=".dcm")
    return datasets


def make_dicom_cohort(root: Path, n: int = 2) -> Path:
    """The tiny cohort of ``make_cohort`` with each CT as a DICOM series; returns the manifest."""
    path = make_cohort(root, n)
    table = pd.read_csv(path)
    for i, pid in enumerate(table["patient_id"]):
        write_dicom_copy(sitk.ReadImage(str(root / pid / "ct.nii.gz")), root / pid / "ct_dicom")
        table.loc[i, "image"] = f"{pid}/ct_dicom"
    table.to_csv(path, index=False)
    return path
