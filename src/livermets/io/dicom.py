"""DICOM series from a folder or a zip: slice ordering, geometry, rescale to stored units (HU)."""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from livermets.errors import DicomSeriesError

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
_NON_IMAGE_SOP_CLASSES = {SEG_SOP_CLASS, RTSTRUCT_SOP_CLASS}
_NO_SERIES = "(no SeriesInstanceUID)"


@dataclass
class DicomFile:
    """One DICOM file: where it is, and how to open its bytes."""

    name: str
    open: Callable[[], io.BufferedIOBase | io.BytesIO]


def _natural_key(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def iter_dicom_files(source: str | Path, prefix: str = "") -> Iterator[DicomFile]:
    """Every regular file of a folder (recursively) or of a zip (optionally under ``prefix``)."""
    source = Path(source)
    if source.is_dir():
        for path in sorted(source.rglob("*"), key=lambda p: _natural_key(str(p))):
            if path.is_file() and path.name.upper() != "DICOMDIR":
                yield DicomFile(str(path), lambda p=path: open(p, "rb"))  # noqa: SIM115
        return
    if zipfile.is_zipfile(source):
        archive = zipfile.ZipFile(source)
        prefix = prefix.strip("/")
        for info in sorted(archive.infolist(), key=lambda i: _natural_key(i.filename)):
            name = info.filename
            if info.is_dir() or Path(name).name.upper() == "DICOMDIR":
                continue
            if prefix and not (name.startswith(prefix + "/") or name == prefix):
                continue
            yield DicomFile(f"{source}:{name}", lambda n=name: io.BytesIO(archive.read(n)))
        return
    if source.is_file():
        yield DicomFile(str(source), lambda: open(source, "rb"))  # noqa: SIM115
        return
    raise DicomSeriesError(f"{source} is neither a folder nor a zip file of DICOM slices.")


def read_header(file: DicomFile) -> Dataset | None:
    """The header of a DICOM file, or None when the file is not DICOM."""
    try:
        with file.open() as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
    except Exception:  # any unreadable or non-DICOM file is skipped, not fatal
        return None
    if "SOPClassUID" not in ds and "Rows" not in ds:
        return None
    return ds


@dataclass
class SeriesHeaders:
    """The headers of the files of one series, with their files."""

    uid: str
    files: list[DicomFile]
    headers: list[Dataset]

    @property
    def sop_class(self) -> str:
        """SOP class UID of the first file of the series."""
        return str(self.headers[0].get("SOPClassUID", ""))

    def describe(self) -> str:
        """Series UID, modality, description and number of files."""
        first = self.headers[0]
        desc = str(first.get("SeriesDescription", "") or "")
        modality = str(first.get("Modality", "") or "?")
        text = f"{self.uid} ({modality}, {len(self.files)} files"
        return text + (f", '{desc}')" if desc else ")")


def scan_series(source: str | Path, prefix: str = "") -> dict[str, SeriesHeaders]:
    """Group the DICOM files of a folder or zip by SeriesInstanceUID."""
    groups: dict[str, SeriesHeaders] = {}
    for file in iter_dicom_files(source, prefix):
        ds = read_header(file)
        if ds is None:
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or _NO_SERIES)
        group = groups.setdefault(uid, SeriesHeaders(uid, [], []))
        group.files.append(file)
        group.headers.append(ds)
    if not groups:
        raise DicomSeriesError(
            f"no DICOM files found in {source}{':' + prefix if prefix else ''}. Point to the "
            "folder (or zip) that holds the slices of one series."
        )
    return groups


def select_series(
    groups: dict[str, SeriesHeaders], source: str | Path, series_uid: str | None = None
) -> SeriesHeaders:
    """Pick the one image series of a folder, or the one asked for; refuse ambiguity."""
    if series_uid is not None:
        if series_uid not in groups:
            listed = "; ".join(g.describe() for g in groups.values())
            raise DicomSeriesError(
                f"series {series_uid} is not in {source}. Series found: {listed}."
            )
        return groups[series_uid]
    images = [g for g in groups.values() if g.sop_class not in _NON_IMAGE_SOP_CLASSES]
    if len(images) == 1:
        return images[0]
    if not images:
        raise DicomSeriesError(f"{source} holds no DICOM image series (only SEG or RTSTRUCT).")
    listed = "; ".join(g.describe() for g in images)
    raise DicomSeriesError(
        f"{source} holds {len(images)} DICOM series: {listed}. Put each series in its own "
        "folder, or choose one with series_uid=... (Python API)."
    )


def _orientation(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    values = np.asarray([float(v) for v in iop])
    return values[:3], values[3:]


def _pixel_spacing(ds: Dataset) -> tuple[float, float]:
    """(row spacing, column spacing) in mm, from PixelSpacing or ImagerPixelSpacing."""
    for key in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(key)
        if value is not None and len(value) == 2:
            return float(value[0]), float(value[1])
    warnings.warn("DICOM slices have no PixelSpacing; assuming 1 mm.", stacklevel=3)
    return 1.0, 1.0


def _slice_positions(headers: list[Dataset], normal: np.ndarray) -> tuple[np.ndarray, bool]:
    """Position of each slice along the slice normal, and whether it came from the header."""
    if all("ImagePositionPatient" in h and h.ImagePositionPatient is not None for h in headers):
        ipp = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
        return ipp @ normal, True
    thickness = headers[0].get("SpacingBetweenSlices") or headers[0].get("SliceThickness") or 1.0
    if all(h.get("InstanceNumber") is not None for h in headers):
        order = np.array([int(h.InstanceNumber) for h in headers], dtype=float)
    else:
        order = np.arange(len(headers), dtype=float)
    warnings.warn(
        "DICOM slices lack ImagePositionPatient; ordered by InstanceNumber with spacing "
        f"{float(thickness)} mm from the slice thickness.",
        stacklevel=3,
    )
    return order * float(thickness), False


def _rescale(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if slope == 1 and intercept == 0:
        return pixels
    return pixels.astype(np.float64) * slope + intercept


def _stack_dtype(headers: list[Dataset], stack: np.ndarray) -> np.dtype:
    integral = all(
        float(h.get("RescaleSlope", 1) or 1).is_integer()
        and float(h.get("RescaleIntercept", 0) or 0).is_integer()
        for h in headers
    )
    if not integral:
        return np.dtype(np.float32)
    lo, hi = (float(stack.min()), float(stack.max())) if stack.size else (0.0, 0.0)
    for dtype in (np.uint8, np.int16, np.uint16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.float64)


def series_to_image(series: SeriesHeaders, source: str | Path) -> sitk.Image:
    """Read the pixels of one series into a 3D SimpleITK image with its geometry and rescale."""
    headers = series.headers
    if any(int(h.get("NumberOfFrames", 1) or 1) > 1 for h in headers):
        if len(headers) == 1:
            raise DicomSeriesError(
                f"{source} is a multi-frame (enhanced) DICOM object; convert it to NIfTI first "
                "(e.g. with dcm2niix) and give the NIfTI file."
            )
        raise DicomSeriesError(f"{source} mixes multi-frame and single-frame DICOM files.")
    row_cos, col_cos = _orientation(headers[0])
    normal = np.cross(row_cos, col_cos)
    positions, from_header = _slice_positions(headers, normal)
    order = np.argsort(positions, kind="stable")
    positions = positions[order]
    if len(positions) > 1:
        steps = np.diff(positions)
        if np.any(steps < 1e-3):
            raise DicomSeriesError(
                f"{source}: series {series.uid} has several slices at the same position "
                "(several acquisitions or echoes in one series). Split them into separate folders."
            )
        dz = float(np.median(steps))
        if np.max(np.abs(steps - dz)) > max(0.05 * dz, 0.01):
            raise DicomSeriesError(
                f"{source}: slice spacing of series {series.uid} is irregular (from "
                f"{steps.min():.3f} to {steps.max():.3f} mm): slices are missing or the series "
                "mixes stacks. Export the complete series."
            )
    else:
        dz = float(headers[0].get("SliceThickness", 1.0) or 1.0)
    slices = []
    for idx in order:
        with series.files[idx].open() as fp:
            ds = pydicom.dcmread(fp, force=True)
        try:
            pixels = ds.pixel_array
        except Exception as exc:
            raise DicomSeriesError(
                f"cannot decode the pixels of {series.files[idx].name}: {exc}. Install the codec "
                "it needs (e.g. pylibjpeg) or export uncompressed DICOM."
            ) from exc
        slices.append(_rescale(ds, pixels))
    shapes = {s.shape for s in slices}
    if len(shapes) != 1:
        raise DicomSeriesError(
            f"{source}: slices of series {series.uid} have different sizes {sorted(shapes)}."
        )
    stack = np.stack(slices)
    stack = stack.astype(_stack_dtype([headers[i] for i in order], stack), copy=False)
    image = sitk.GetImageFromArray(stack)
    row_spacing, col_spacing = _pixel_spacing(headers[0])
    image.SetSpacing((col_spacing, row_spacing, dz))
    first = headers[order[0]]
    if from_header:
        image.SetOrigin(tuple(float(v) for v in first.ImagePositionPatient))
    else:
        image.SetOrigin((0.0, 0.0, float(positions[0])))
    direction = np.column_stack([row_cos, col_cos, normal])
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image


def ordered_headers(series: SeriesHeaders, source: str | Path) -> list[Dataset]:
    """The slice headers of a series in the order of ``series_to_image`` (item k = z index k)."""
    headers = series.headers
    if any(int(h.get("NumberOfFrames", 1) or 1) > 1 for h in headers):
        raise DicomSeriesError(
            f"{source}: series {series.uid} is multi-frame (enhanced) DICOM; livermets writes "
            "DICOM-SEG objects only for series of single-frame slices."
        )
    if not all(h.get("ImagePositionPatient") is not None for h in headers):
        raise DicomSeriesError(
            f"{source}: slices of series {series.uid} lack ImagePositionPatient, so a DICOM-SEG "
            "cannot place its frames on them. Export the series with its position tags."
        )
    row_cos, col_cos = _orientation(headers[0])
    positions, _ = _slice_positions(headers, np.cross(row_cos, col_cos))
    return [headers[i] for i in np.argsort(positions, kind="stable")]


def read_series_headers(
    source: str | Path, *, series_uid: str | None = None, prefix: str = ""
) -> list[Dataset]:
    """The slice headers (no pixels) of one image series, in the slice order of its image."""
    groups = scan_series(source, prefix)
    return ordered_headers(select_series(groups, source, series_uid), source)


def read_dicom_series(
    source: str | Path, *, series_uid: str | None = None, prefix: str = ""
) -> sitk.Image:
    """Read one DICOM image series from a folder or zip (files with or without extension)."""
    groups = scan_series(source, prefix)
    series = select_series(groups, source, series_uid)
    return series_to_image(series, source)
