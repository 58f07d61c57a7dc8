"""Per-patient lesion instance files: an instance map NIfTI and a DICOM-SEG with one segment per
lesion, staged in a temporary folder and put in place only when the whole cohort succeeded."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from livermets import __version__
from livermets.cohort.manifest import Manifest, PatientRow
from livermets.errors import ConfigError
from livermets.io import SegAlgorithm, SegmentSpec, dicom_source, write_dicom_seg, write_image
from livermets.io.dicomseg import ABNORMAL_STRUCTURE, lesion_type_code
from livermets.lesions.table import PatientLesions

MAP_SUFFIX = ".nii.gz"
SEG_SUFFIX = "_seg.dcm"


def file_stem(patient_id: str) -> str:
    """A patient ID as a file name: letters, digits, '.', '_' and '-' kept, the rest '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", patient_id) or "patient"


def lesion_algorithm(manifest: Manifest) -> SegAlgorithm:
    """AUTOMATIC for the manifest of a `segment run`, else SEMIAUTOMATIC (instances of a mask
    that may be drawn by hand, split automatically)."""
    if (manifest.root / "segment.json").is_file():
        return SegAlgorithm("AUTOMATIC", "livermets segment + lesions", __version__)
    return SegAlgorithm(
        "SEMIAUTOMATIC", "livermets lesions", __version__, "MorphologicalOperations"
    )


def check_instance_output(
    folder: Path, rows: list[PatientRow], dicom_seg: bool, patients: set[str] | None = None
) -> None:
    """Refuse, before any work, a folder that is a file, clashing names or non-DICOM images."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; the lesion instance folder must be a folder.")
    rows = [r for r in rows if patients is None or r.patient_id in patients]
    # duplicated IDs are the tables' error; here: different IDs that give one file name
    stems = [file_stem(pid) for pid in sorted({r.patient_id for r in rows})]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ConfigError(
            f"patient IDs map to the same file name {clashes}; make them differ in letters, "
            "digits, '.', '_' or '-'."
        )
    if dicom_seg:
        not_dicom = [r.patient_id for r in rows if r.image is None or dicom_source(r.image) is None]
        if not_dicom:
            shown = ", ".join(not_dicom[:10]) + (" ..." if len(not_dicom) > 10 else "")
            raise ConfigError(
                f"--dicom-seg: the images of {len(not_dicom)} patient(s) ({shown}) are not DICOM "
                "series (or are missing); a DICOM-SEG must reference the DICOM slices it "
                "segments. Point their 'image' cells to the DICOM folders (or zips), or run "
                "without --dicom-seg."
            )


class InstanceWriter:
    """Write each patient's instance files into a staging folder; ``commit`` moves it in place."""

    def __init__(
        self,
        folder: Path,
        *,
        instance_maps: bool = True,
        dicom_seg: bool = False,
        algorithm: SegAlgorithm | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.instance_maps = instance_maps
        self.dicom_seg = dicom_seg
        self.algorithm = algorithm or SegAlgorithm(
            "SEMIAUTOMATIC", "livermets lesions", family="MorphologicalOperations"
        )
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(
            tempfile.mkdtemp(
                prefix=f".{self.folder.name}.tmp{os.getpid()}-", dir=self.folder.parent
            )
        )
        self.files: dict[str, dict[str, str]] = {}

    def __call__(self, row: PatientRow, measured: PatientLesions) -> None:
        """Write one patient's instance map and DICOM-SEG (when asked for)."""
        stem = file_stem(row.patient_id)
        written: dict[str, str] = {}
        instance_map = measured.instance_map
        if instance_map is None:
            raise RuntimeError("the lesion measurements carry no instance map")
        if self.instance_maps:
            write_image(instance_map, self.staging / f"{stem}{MAP_SUFFIX}")
            written["instance_map"] = f"{stem}{MAP_SUFFIX}"
        if self.dicom_seg and measured.lesions:  # a SEG needs at least one segment
            specs = [
                SegmentSpec(
                    f"lesion {les['lesion_id']}",
                    int(les["lesion_id"]),
                    lesion_type_code(les["label"] if isinstance(les["label"], str) else None),
                    ABNORMAL_STRUCTURE,
                    tracking_id=f"lesion {les['lesion_id']}",
                )
                for les in measured.lesions
            ]
            write_dicom_seg(
                instance_map, specs, row.image, self.staging / f"{stem}{SEG_SUFFIX}",  # type: ignore[arg-type]
                algorithm=self.algorithm, series_description="livermets lesion instances",
            )  # fmt: skip
            written["dicom_seg"] = f"{stem}{SEG_SUFFIX}"
        self.files[row.patient_id] = written

    def relative_path(self, patient_id: str, column: str, start: Path) -> str:
        """Where a patient's file will be after ``commit``, relative to ``start`` ('' if none)."""
        name = self.files.get(patient_id, {}).get(column)
        return os.path.relpath(self.folder / name, start) if name else ""

    def commit(self) -> Path:
        """Replace the instance folder by the staged one."""
        old = None
        if self.folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.old", dir=self.folder.parent))
            os.replace(self.folder, old / self.folder.name)
        os.replace(self.staging, self.folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.folder

    def discard(self) -> None:
        """Remove the staging folder (after an error)."""
        shutil.rmtree(self.staging, ignore_errors=True)
