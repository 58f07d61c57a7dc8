"""Run a backend over a cohort: masks per patient (resumable), post-processing, updated manifest.

Layout of the output folder::

    DIR/manifest.csv                 the input manifest with the mask columns replaced
    DIR/segmentation.csv             one row per patient: volumes, lesion counts, what was removed
    DIR/segment.json                 backend, settings and versions of the run
    DIR/masks/<patient>/liver.nii.gz, lesions.nii.gz [, lesion_labels.csv], done.json
    DIR/masks/<patient>/<patient>_seg.dcm   with ``dicom_seg``: the masks as a DICOM-SEG

A patient whose ``done.json`` carries the same signature (backend, model, settings) is skipped, so
an interrupted run continues where it stopped. The DICOM-SEG is an export of the NIfTI masks, not
part of the signature: a resumed patient gets one written from its finished masks.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from livermets import __version__
from livermets._atomic import write_table, write_text
from livermets._progress import PatientProgress
from livermets.cohort import Manifest, PatientRow
from livermets.cohort.manifest import MASK_COLUMNS
from livermets.errors import ConfigError, InputFileError, ManifestError
from livermets.io import Geometry, read_image, write_image
from livermets.segment.backends.base import Backend, RawSegmentation
from livermets.segment.postprocess import PostprocessSettings, postprocess

DONE_FILE = "done.json"
SUMMARY_COLUMNS = [
    "patient_id", "status", "liver_ml", "n_lesions", "lesion_ml", "removed_small",
    "removed_outside", "lesion_classes", "dicom_seg",
]  # fmt: skip


@dataclass(frozen=True)
class RunSettings:
    """Options of a segmentation run."""

    postprocess: PostprocessSettings = field(default_factory=PostprocessSettings)
    overwrite: bool = False
    patients: tuple[str, ...] | None = None
    dicom_seg: bool = False


@dataclass
class RunResult:
    """What a run produced."""

    out: Path
    manifest: Path
    summary: pd.DataFrame

    @property
    def n_segmented(self) -> int:
        """Patients segmented in this run."""
        return int((self.summary["status"] == "segmented").sum())

    @property
    def n_resumed(self) -> int:
        """Patients skipped because an earlier run had finished them."""
        return int((self.summary["status"] == "resumed").sum())

    @property
    def n_dicom_seg(self) -> int:
        """Patients with a DICOM-SEG of their masks."""
        return int((self.summary["dicom_seg"].fillna("").astype(str) != "").sum())


def _safe_name(patient_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", patient_id) or "patient"


def _check_rows(manifest: Manifest, rows: list[PatientRow]) -> None:
    ids = [r.patient_id for r in rows]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ManifestError(
            f"patient IDs {duplicated} appear more than once in {manifest.path}; run "
            "`livermets validate` and fix the manifest."
        )
    no_image = [r.patient_id for r in rows if r.image is None]
    if no_image:
        raise ManifestError(
            f"patients {no_image[:10]} of {manifest.path} have no image to segment; fill the "
            "'image' column."
        )
    absent = [f"{r.patient_id}: {r.image}" for r in rows if r.image and not r.image.exists()]
    if absent:
        raise InputFileError(
            f"{len(absent)} image(s) do not exist ({'; '.join(absent[:5])}). Fix the paths "
            "(relative paths are relative to the manifest's folder)."
        )
    names = [_safe_name(i) for i in ids]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ManifestError(
            f"patient IDs map to the same folder name {clashes}; make them differ in letters, "
            "digits, '.', '_' or '-'."
        )


def _to_image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(reference)
    return out


def _check_raw(raw: RawSegmentation, image: sitk.Image, patient_id: str, backend: str) -> None:
    shape = sitk.GetArrayViewFromImage(image).shape
    for name in ("liver", "lesions", "primary"):
        array = getattr(raw, name)
        if array is not None and array.shape != shape:
            raise RuntimeError(
                f"backend {backend} returned a {name} mask of shape {array.shape} for patient "
                f"{patient_id}, whose image is {shape}: masks must lie on the image grid."
            )


def segment_patient(
    backend: Backend,
    row: PatientRow,
    folder: Path,
    settings: RunSettings,
    signature: dict[str, Any],
) -> dict[str, Any]:
    """Segment, post-process and write one patient's masks; return its summary row."""
    image = read_image(row.image)  # type: ignore[arg-type]
    raw = backend.predict(image, row)
    _check_raw(raw, image, row.patient_id, backend.name)
    spacing = image.GetSpacing()
    clean = postprocess(raw.liver, raw.lesions, spacing, settings.postprocess)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    files: dict[str, str] = {}
    if clean.liver is not None:
        write_image(_to_image(clean.liver.astype(np.uint8), image), folder / "liver.nii.gz")
        files["liver_mask"] = "liver.nii.gz"
    n_lesions = 0
    lesion_ml = float("nan")
    if clean.lesions is not None:
        write_image(_to_image(clean.lesions, image), folder / "lesions.nii.gz")
        files["lesion_mask"] = "lesions.nii.gz"
        import cc3d

        n_lesions = int(cc3d.connected_components(clean.lesions > 0, connectivity=26).max())
        lesion_ml = float((clean.lesions > 0).sum()) * voxel_ml
        if len(raw.lesion_classes) > 1:
            labels = pd.DataFrame(
                {
                    "lesion_label": range(1, len(raw.lesion_classes) + 1),
                    "label": raw.lesion_classes,
                }
            )
            write_table(labels, folder / "lesion_labels.csv")
            files["lesion_labels"] = "lesion_labels.csv"
    if raw.primary is not None:
        from livermets.segment.postprocess import largest_component

        primary = largest_component(raw.primary.astype(bool)) if raw.primary.any() else raw.primary
        write_image(_to_image(primary.astype(np.uint8), image), folder / "primary.nii.gz")
        files["primary_mask"] = "primary.nii.gz"
    summary = {
        "patient_id": row.patient_id,
        "status": "segmented",
        "liver_ml": float(clean.liver.sum()) * voxel_ml if clean.liver is not None else np.nan,
        "n_lesions": n_lesions,
        "lesion_ml": lesion_ml,
        "removed_small": clean.removed_small,
        "removed_outside": clean.removed_outside,
        "lesion_classes": ";".join(raw.lesion_classes),
    }
    done = {
        "signature": signature,
        "files": files,
        "summary": summary,
        "geometry": asdict(Geometry.of(image)),
    }
    write_text(folder / DONE_FILE, json.dumps(done, indent=2, default=float) + "\n")
    return summary


def _done(folder: Path, signature: dict[str, Any]) -> dict[str, Any] | None:
    path = folder / DONE_FILE
    if not path.is_file():
        return None
    try:
        done = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if done.get("signature") != signature:
        return None
    if not all((folder / f).is_file() for f in done.get("files", {}).values()):
        return None
    return done


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path, start)
    except ValueError:  # another drive
        return str(path)


def updated_manifest(
    manifest: Manifest, out: Path, done: dict[str, dict[str, Any]], rows: list[PatientRow]
) -> pd.DataFrame:
    """The input manifest with predicted mask paths; paths relative to the output folder."""
    table = manifest.table.copy()
    wanted = {r.patient_id for r in rows}
    table = table[table["patient_id"].astype(str).isin(wanted)].reset_index(drop=True)
    for column in manifest.image_columns:
        table[column] = [
            _relative(p, out) if (p := manifest.resolve(v)) is not None else ""
            for v in table[column]
        ]
    for column in manifest.mask_columns:
        if column not in MASK_COLUMNS:  # extra regions (mask_<region>) keep their files
            table[column] = [
                _relative(p, out) if (p := manifest.resolve(v)) is not None else ""
                for v in table[column]
            ]
    # the predicted manifest holds predicted masks only: given liver / lesion / primary masks and
    # lesion-label files are replaced, or blanked when the backend does not produce them
    for column in ["liver_mask", "lesion_mask", "primary_mask", "lesion_labels"]:
        values = []
        for pid in table["patient_id"].astype(str):
            name = done[pid]["files"].get(column)
            folder = out / "masks" / _safe_name(pid)
            values.append(_relative(folder / name, out) if name else "")
        if column in table.columns or any(values):
            table[column] = values
    return table


def _dicom_seg(row: PatientRow, folder: Path, done: dict[str, Any], backend: str) -> Path:
    """The patient's DICOM-SEG, written unless one newer than its finished masks exists."""
    from livermets.segment.dicom_out import SEG_SUFFIX, write_predicted_seg

    path = folder / f"{_safe_name(row.patient_id)}{SEG_SUFFIX}"
    finished = (folder / DONE_FILE).stat().st_mtime_ns
    if path.is_file() and path.stat().st_mtime_ns >= finished:
        return path
    return write_predicted_seg(row, folder, done, backend, path)


def run_segmentation(
    manifest: Manifest,
    backend: Backend,
    out: str | Path,
    settings: RunSettings | None = None,
    progress: PatientProgress | None = None,
) -> RunResult:
    """Segment every patient of a manifest with a backend into ``out`` (resumable)."""
    settings = settings or RunSettings()
    out = Path(out)
    rows = manifest.rows()
    if settings.patients:
        unknown = sorted(set(settings.patients) - {r.patient_id for r in rows})
        if unknown:
            raise ConfigError(f"patients {unknown} are not in {manifest.path}.")
        rows = [r for r in rows if r.patient_id in set(settings.patients)]
    _check_rows(manifest, rows)
    if settings.dicom_seg:
        from livermets.segment.dicom_out import check_dicom_images

        check_dicom_images(rows)
    backend.check()  # weights and model checks come before anything is written
    signature = {
        **backend.signature(),
        "postprocess": asdict(settings.postprocess),
    }
    run_file = out / "segment.json"
    if run_file.is_file() and not settings.overwrite:
        previous = json.loads(run_file.read_text()).get("signature")
        if previous != signature:
            raise ConfigError(
                f"{out} holds masks of another backend, model or setting ({previous}). Choose "
                "a new --out folder, or pass --overwrite to replace them."
            )
    write_text(
        run_file,
        json.dumps(
            {"signature": signature, "manifest": str(manifest.path), "livermets": __version__},
            indent=2,
        )
        + "\n",
    )
    done: dict[str, dict[str, Any]] = {}
    summaries = []
    for row in rows:
        folder = out / "masks" / _safe_name(row.patient_id)
        previous = None if settings.overwrite else _done(folder, signature)
        if previous is not None:
            done[row.patient_id] = previous
            summaries.append({**previous["summary"], "status": "resumed"})
        else:
            summaries.append(segment_patient(backend, row, folder, settings, signature))
            done[row.patient_id] = json.loads((folder / DONE_FILE).read_text())
        summaries[-1]["dicom_seg"] = ""
        if settings.dicom_seg:
            seg = _dicom_seg(row, folder, done[row.patient_id], backend.name)
            summaries[-1]["dicom_seg"] = _relative(seg, out)
        if progress is not None:
            progress(row.patient_id)
    summary = pd.DataFrame(summaries, columns=SUMMARY_COLUMNS)
    table = updated_manifest(manifest, out, done, rows)
    manifest_path = write_table(table, out / "manifest.csv")
    write_table(summary, out / "segmentation.csv")
    return RunResult(out, manifest_path, summary)
