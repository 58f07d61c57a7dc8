"""DICOM-SEG through highdicom: read one as a label map in patient space; write label maps on a
DICOM series' grid as a SEG that references the series (for 3D Slicer, OHIF and PACS)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from livermets import __version__
from livermets._atomic import atomic_path
from livermets.errors import ConfigError, GeometryMismatchError, InputFileError, MaskError
from livermets.io.dicom import SeriesHeaders, ordered_headers, read_series_headers
from livermets.io.geometry import Geometry, GeometryTolerance, geometry_differences
from livermets.io.images import dicom_source


def read_dicom_seg(data: bytes) -> sitk.Image:
    """Label map (segment number as value) with the geometry the SEG object stores."""
    try:
        seg = hd.seg.segread(io.BytesIO(data))
        volume = seg.get_volume(combine_segments=True, skip_overlap_checks=True)
        # slices along row x column, as read_dicom_series orders them (highdicom's default
        # right-handed (slice, row, column) volume runs against that normal)
        volume = volume.ensure_handedness(hd.AxisHandedness.LEFT_HANDED, flip_axis=0)
    except Exception as exc:
        raise MaskError(
            f"cannot read the DICOM-SEG as a 3D label map: {exc}. The segmentation must cover a "
            "regularly spaced stack of slices."
        ) from exc
    affine = np.asarray(volume.affine, dtype=float)
    # highdicom arrays are (slice, row, column); SimpleITK's x axis is the column.
    array = np.asarray(volume.array)
    image = sitk.GetImageFromArray(array.astype(np.uint16 if array.max() > 255 else np.uint8))
    axes = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]
    spacing = [float(np.linalg.norm(a)) for a in axes]
    direction = np.column_stack([a / s for a, s in zip(axes, spacing, strict=True)])
    image.SetSpacing(spacing)
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image


# segment codes: SNOMED CT concepts of DICOM CID 7150 (categories) and CID 7151 (types)
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure
ABNORMAL_STRUCTURE = codes.SCT.MorphologicallyAbnormalStructure
LIVER = codes.SCT.Liver
LESION = codes.SCT.Lesion
_LESION_TYPES: dict[str, Code] = {
    "metastasis": codes.SCT.NeoplasmSecondary,
    "metastases": codes.SCT.NeoplasmSecondary,
    "metastatic": codes.SCT.NeoplasmSecondary,
    "crlm": codes.SCT.NeoplasmSecondary,
    "hemangioma": codes.SCT.Hemangioma,
    "haemangioma": codes.SCT.Hemangioma,
    "cyst": codes.SCT.Cyst,
    "primary": codes.SCT.NeoplasmPrimary,
    "primary tumour": codes.SCT.NeoplasmPrimary,
    "primary tumor": codes.SCT.NeoplasmPrimary,
    "tumour": codes.SCT.Neoplasm,
    "tumor": codes.SCT.Neoplasm,
    "neoplasm": codes.SCT.Neoplasm,
}
ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")


def lesion_type_code(name: str | None) -> Code:
    """SNOMED CT segment type of a lesion class name; ``Lesion`` for unknown names."""
    key = " ".join(str(name or "").lower().replace("_", " ").split())
    return _LESION_TYPES.get(key, LESION)


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: the voxels equal to ``value`` in label map number ``layer``."""

    label: str
    value: int
    property_type: Code = LESION
    property_category: Code = ABNORMAL_STRUCTURE
    layer: int = 0
    tracking_id: str | None = None


@dataclass(frozen=True)
class SegAlgorithm:
    """How the segments were made; AUTOMATIC and SEMIAUTOMATIC name the algorithm, whose
    ``family`` is a keyword of DICOM CID 7162 (e.g. ArtificialIntelligence)."""

    kind: str = "AUTOMATIC"
    name: str = "livermets"
    version: str = __version__
    family: str = "ArtificialIntelligence"

    def __post_init__(self) -> None:
        if self.kind not in ALGORITHM_TYPES:
            raise ConfigError(
                f"segment algorithm type {self.kind!r} is not one of {', '.join(ALGORITHM_TYPES)}."
            )
        if self.family not in codes.cid7162.dir():
            raise ConfigError(
                f"segment algorithm family {self.family!r} is not in DICOM CID 7162; use one of "
                f"{', '.join(codes.cid7162.dir())}."
            )

    def identification(self) -> hd.AlgorithmIdentificationSequence | None:
        """The AlgorithmIdentificationSequence (None for MANUAL segments)."""
        if self.kind == "MANUAL":
            return None
        return hd.AlgorithmIdentificationSequence(
            name=self.name, family=getattr(codes.cid7162, self.family), version=self.version
        )


def _source_headers(source: str | Path | Sequence[Dataset]) -> list[Dataset]:
    """Slice headers of the source series, in the slice order of its image."""
    if isinstance(source, str | Path):
        found = dicom_source(source)
        if found is None:
            raise InputFileError(
                f"{source} is not a DICOM series: a DICOM-SEG must reference the DICOM slices it "
                "segments. Give the DICOM folder (or zip) the image was read from."
            )
        folder, uid = found
        return read_series_headers(folder, series_uid=uid)
    headers = list(source)
    if not headers:
        raise InputFileError("no source DICOM slices given for the DICOM-SEG.")
    series = SeriesHeaders(str(headers[0].get("SeriesInstanceUID", "")), [], headers)
    return ordered_headers(series, "the source slices")


def _with_frame_of_reference(headers: list[Dataset], uid: str) -> list[Dataset]:
    """Headers that all carry a FrameOfReferenceUID (one derived from the series when none has)."""
    if all(h.get("FrameOfReferenceUID") for h in headers):
        return headers
    frame = generate_uid(entropy_srcs=["livermets frame of reference", uid])
    warnings.warn(
        f"DICOM series {uid} has no FrameOfReferenceUID, which a DICOM-SEG requires; the SEG "
        f"gets {frame}, derived from the series UID (viewers place its frames by the slices "
        "they reference).",
        stacklevel=3,
    )
    copies = []
    for h in headers:  # new element dicts: the caller's datasets stay as they were
        new = Dataset(dict(h.items()))
        if hasattr(h, "file_meta"):
            new.file_meta = h.file_meta
        new.FrameOfReferenceUID = h.get("FrameOfReferenceUID") or frame
        copies.append(new)
    return copies


def series_geometry(headers: Sequence[Dataset]) -> Geometry:
    """The voxel grid of ordered single-frame slices, as ``read_dicom_series`` builds it."""
    first = headers[0]
    iop = [float(v) for v in first.ImageOrientationPatient]
    row_cos, col_cos = np.asarray(iop[:3]), np.asarray(iop[3:])
    normal = np.cross(row_cos, col_cos)
    positions = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
    steps = np.diff(positions @ normal)
    dz = float(np.median(steps)) if len(steps) else float(first.get("SliceThickness", 1.0) or 1.0)
    # no PixelSpacing: 1 mm, as read_dicom_series assumes (with its warning)
    row_spacing, col_spacing = (float(v) for v in first.get("PixelSpacing") or (1.0, 1.0))
    direction = np.column_stack([row_cos, col_cos, normal])
    return Geometry(
        (int(first.Columns), int(first.Rows), len(headers)),
        (col_spacing, row_spacing, dz),
        tuple(float(v) for v in positions[0]),
        tuple(float(v) for v in direction.ravel()),
    )


def _check_grid(label_map: sitk.Image, grid: Geometry, uid: str, tol: GeometryTolerance) -> None:
    reference = sitk.Image(list(grid.size), sitk.sitkUInt8)
    reference.SetSpacing(grid.spacing)
    reference.SetOrigin(grid.origin)
    reference.SetDirection(grid.direction)
    diffs = geometry_differences(label_map, reference, tol)
    if diffs:
        raise GeometryMismatchError(
            f"the label map does not lie on the slices of DICOM series {uid} (differs in "
            f"{', '.join(diffs)}: label map {Geometry.of(label_map).describe()}; series "
            f"{grid.describe()}). Resample it onto the image read from that series first."
        )


def _pixel_array(arrays: list[np.ndarray], segments: Sequence[SegmentSpec]) -> np.ndarray:
    """Label-map style (segment numbers, one layer) or stacked (z, y, x, segment) booleans."""
    if len({s.layer for s in segments}) == 1:
        source = arrays[segments[0].layer]
        if source.dtype.kind not in "ui":
            source = source.astype(np.int64)
        dtype = np.uint8 if len(segments) < 256 else np.uint16
        lut = np.zeros(max(int(source.max()), max(s.value for s in segments)) + 1, dtype=dtype)
        for number, spec in enumerate(segments, start=1):
            lut[spec.value] = number
        return lut[source]
    stacked = np.zeros((*arrays[0].shape, len(segments)), dtype=np.uint8)
    for number, spec in enumerate(segments):
        stacked[..., number] = arrays[spec.layer] == spec.value
    return stacked


def write_dicom_seg(
    label_maps: sitk.Image | Sequence[sitk.Image],
    segments: Sequence[SegmentSpec],
    source: str | Path | Sequence[Dataset],
    path: str | Path,
    *,
    algorithm: SegAlgorithm | None = None,
    series_description: str = "livermets segmentation",
    series_number: int = 901,
    omit_empty_frames: bool = True,
) -> Path:
    """Write label maps on a DICOM series' grid as a BINARY DICOM-SEG that references it."""
    maps = [label_maps] if isinstance(label_maps, sitk.Image) else list(label_maps)
    if not segments:
        raise ConfigError("a DICOM-SEG needs at least one segment.")
    if any(not 0 <= s.layer < len(maps) for s in segments):
        raise ConfigError(f"segment layers must be 0..{len(maps) - 1} (one per label map).")
    if any(s.value < 1 for s in segments):
        raise ConfigError("segment values must be label values >= 1 (0 is background).")
    headers = _source_headers(source)
    uid = str(headers[0].get("SeriesInstanceUID", ""))
    headers = _with_frame_of_reference(headers, uid)
    grid = series_geometry(headers)
    tol = GeometryTolerance()
    for image in maps:
        _check_grid(image, grid, uid, tol)
    arrays = [sitk.GetArrayViewFromImage(image) for image in maps]
    pixels = _pixel_array(arrays, segments)
    algorithm = algorithm or SegAlgorithm()
    identification = algorithm.identification()
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=spec.label[:64],
            segmented_property_category=spec.property_category,
            segmented_property_type=spec.property_type,
            algorithm_type=algorithm.kind,
            algorithm_identification=identification,
            tracking_id=spec.tracking_id,
            tracking_uid=hd.UID() if spec.tracking_id else None,
        )
        for number, spec in enumerate(segments, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=headers,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="livermets",
        manufacturer_model_name=algorithm.name[:64],
        software_versions=__version__,
        device_serial_number="livermets",
        series_description=series_description[:64],
        content_label="SEGMENTATION",
        omit_empty_frames=omit_empty_frames,
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path
