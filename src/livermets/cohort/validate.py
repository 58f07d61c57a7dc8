"""Check a cohort: every file, geometry, mask, label and clinical value; report all problems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import SimpleITK as sitk

from livermets._progress import PatientProgress
from livermets.cohort.labels import KNOWN_LESION_CLASSES, read_lesion_labels
from livermets.cohort.manifest import SPLIT_VALUES, Manifest, PatientRow
from livermets.errors import GeometryMismatchError, LivermetsError
from livermets.io import read_image, read_mask
from livermets.io.geometry import geometry_differences
from livermets.io.instances import split_instances

ERROR, WARNING = "error", "warning"


@dataclass
class Problem:
    """One problem found in the cohort."""

    patient_id: str
    column: str
    code: str
    message: str
    severity: str = ERROR


@dataclass
class ValidationReport:
    """All problems of a cohort, and how many patients were checked."""

    n_patients: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity 'error'."""
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """The problems as a table."""
        cols = ["patient_id", "column", "code", "severity", "message"]
        return pd.DataFrame([asdict(p) for p in self.problems], columns=cols)

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "ok": self.ok,
            "n_patients": self.n_patients,
            "n_errors": len(self.errors),
            "n_warnings": len(self.problems) - len(self.errors),
            "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class ValidationSettings:
    """Thresholds of the checks."""

    resample_masks: bool = False
    allowed_labels: frozenset[str] | None = None
    outside_liver_error: float = 0.1  # inside fraction below this: an error
    outside_liver_warning: float = 0.5  # below this: a warning (partly outside)
    connectivity: int = 26
    numeric_share: float = 0.8  # a column with this share of numbers is a numeric column


def _numeric(value: object) -> bool:
    try:
        return np.isfinite(float(str(value).strip()))
    except ValueError:
        return False


def check_table(manifest: Manifest, settings: ValidationSettings) -> list[Problem]:
    """Manifest-wide checks: IDs, labels, splits, clinical values."""
    table = manifest.table
    problems: list[Problem] = []
    ids = table["patient_id"]  # blank IDs and unknown modalities are refused by load_manifest
    for pid, count in ids.dropna().value_counts().items():
        if count > 1:
            problems.append(
                Problem(
                    str(pid),
                    "patient_id",
                    "duplicate_id",
                    f"patient_id {pid} appears {count} times; IDs must be unique "
                    "(one row per patient).",
                )
            )
    if "label" in table.columns:
        values = table["label"]
        for pid, value in zip(ids, values, strict=True):
            if pd.isna(value):
                problems.append(
                    Problem(
                        str(pid),
                        "label",
                        "missing_label",
                        "label is empty; give every patient a label.",
                    )
                )
            elif _numeric(value):
                if float(value) not in (0.0, 1.0):
                    problems.append(
                        Problem(
                            str(pid),
                            "label",
                            "unknown_label",
                            f"numeric label {value} is not 0 or 1. Use 0/1 for a binary outcome, "
                            "or class names declared with --labels.",
                        )
                    )
            elif settings.allowed_labels is not None and str(value) not in settings.allowed_labels:
                problems.append(
                    Problem(
                        str(pid),
                        "label",
                        "unknown_label",
                        f"label '{value}' is not one of {sorted(settings.allowed_labels)}.",
                    )
                )
    if "split" in table.columns:
        for pid, value in zip(ids, table["split"], strict=True):
            if pd.notna(value) and str(value).strip().lower() not in SPLIT_VALUES:
                problems.append(
                    Problem(
                        str(pid),
                        "split",
                        "unknown_split",
                        f"split '{value}' is not one of {sorted(SPLIT_VALUES)}.",
                    )
                )
    for column in manifest.clinical_columns:
        present = table[column].dropna()
        if present.empty:
            continue
        numeric = present.map(_numeric)
        if numeric.mean() >= settings.numeric_share and not numeric.all():
            for idx in present[~numeric].index:
                problems.append(
                    Problem(
                        str(ids[idx]),
                        column,
                        "non_numeric",
                        f"{column} = '{present[idx]}' is not a number, while "
                        f"{numeric.mean():.0%} of the column is numeric. Write a "
                        "plain number (dot as decimal mark) or leave it empty.",
                    )
                )
    return problems


def check_ct_intensities(image: sitk.Image, liver: np.ndarray | None) -> str | None:
    """A message when intensities are implausible for CT in HU, else None."""
    values = sitk.GetArrayViewFromImage(image)
    sample = values.ravel()[:: max(1, values.size // 2_000_000)]
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if lo > -500:
        return (
            f"CT intensities do not look like HU (0.5th percentile {lo:.0f}; air should be "
            "about -1000). The rescale intercept was probably not applied, or this is not CT "
            "(set the modality column to MR)."
        )
    if lo < -3100 or hi > 10000:
        return f"CT intensities out of the HU range (0.5-99.5th percentiles {lo:.0f} to {hi:.0f})."
    if liver is not None and liver.any():
        median = float(np.median(values[liver]))
        if not -100 <= median <= 300:
            return (
                f"median intensity inside the liver mask is {median:.0f} HU (expected about "
                "-100 to 300 on CT): wrong image or wrong liver mask?"
            )
    return None


def _read_mask_checked(
    row: PatientRow,
    column: str,
    reference: sitk.Image | None,
    settings: ValidationSettings,
    problems: list[Problem],
) -> np.ndarray | None:
    path = row.masks[column]
    if not path.exists():
        problems.append(
            Problem(row.patient_id, column, "missing_file", f"{column} file {path} does not exist.")
        )
        return None
    try:
        with _warnings_as(problems, row.patient_id, column):
            mask = read_mask(
                path, reference, resample=settings.resample_masks, name=f"{column} {path.name}"
            )
    except GeometryMismatchError as exc:
        problems.append(Problem(row.patient_id, column, "geometry_mismatch", str(exc)))
        return None
    except LivermetsError as exc:
        problems.append(Problem(row.patient_id, column, "unreadable", str(exc)))
        return None
    array = sitk.GetArrayFromImage(mask)
    if not array.any():
        problems.append(
            Problem(
                row.patient_id,
                column,
                "empty_mask",
                f"{column} {path.name} is empty (all zero). Leave the cell blank "
                "if the patient has no such region.",
            )
        )
        return None
    return array


class _warnings_as:
    """Record warnings raised inside the block as warning-level problems."""

    def __init__(self, problems: list[Problem], patient_id: str, column: str) -> None:
        self.problems, self.patient_id, self.column = problems, patient_id, column

    def __enter__(self) -> None:
        import warnings

        self._catcher = warnings.catch_warnings(record=True)
        self._records = self._catcher.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._catcher.__exit__(*exc)
        for record in self._records:
            self.problems.append(
                Problem(self.patient_id, self.column, "resampled", str(record.message), WARNING)
            )


def check_row(row: PatientRow, settings: ValidationSettings) -> list[Problem]:
    """Per-patient checks: files, readability, geometry, masks, lesion labels, intensities."""
    problems: list[Problem] = []
    reference: sitk.Image | None = None
    if not row.images:
        problems.append(
            Problem(
                row.patient_id,
                "image",
                "no_image",
                "no image for this patient (masks only): image-based stages will leave it out.",
                WARNING,
            )
        )
    main_column = next((c for c, p in row.images.items() if p == row.image), None)
    ordered = sorted(row.images.items(), key=lambda item: item[0] != main_column)
    main: sitk.Image | None = None
    for column, path in ordered:
        if not path.exists():
            problems.append(
                Problem(
                    row.patient_id, column, "missing_file", f"{column} file {path} does not exist."
                )
            )
            continue
        try:
            image = read_image(path)
        except LivermetsError as exc:
            problems.append(Problem(row.patient_id, column, "unreadable", str(exc)))
            continue
        if reference is None:
            reference = image
            main = image if column == main_column else None
        elif geometry_differences(image, reference):
            problems.append(
                Problem(
                    row.patient_id,
                    column,
                    "phase_geometry",
                    f"{column} is not on the grid of the first image "
                    f"({', '.join(geometry_differences(image, reference))} "
                    "differ). Register the phases to one grid first.",
                )
            )
    masks = {c: _read_mask_checked(row, c, reference, settings, problems) for c in row.masks}
    liver = masks.get("liver_mask")
    on_grid = main is not None and (liver is None or liver.shape == main.GetSize()[::-1])
    if on_grid and row.modality == "CT":
        message = check_ct_intensities(main, liver > 0 if liver is not None else None)
        if message:
            problems.append(Problem(row.patient_id, "image", "implausible_hu", message))
    lesions = masks.get("lesion_mask")
    if lesions is not None and row.lesion_mask_label is not None:
        lesions = np.where(lesions == row.lesion_mask_label, lesions, 0)
    if lesions is not None:
        problems += _check_lesions(row, lesions, liver, settings)
    return problems


def _check_lesions(
    row: PatientRow, lesions: np.ndarray, liver: np.ndarray | None, settings: ValidationSettings
) -> list[Problem]:
    problems: list[Problem] = []
    instance_map, instances = split_instances(lesions, settings.connectivity)
    if liver is not None and liver.shape == lesions.shape:
        for inst in instances:
            region = inst.crop(instance_map) == inst.instance
            inside = float((inst.crop(liver)[region] > 0).mean())
            if inside < settings.outside_liver_warning:
                severity = ERROR if inside < settings.outside_liver_error else WARNING
                where = "outside" if severity == ERROR else "partly outside"
                problems.append(
                    Problem(
                        row.patient_id,
                        "lesion_mask",
                        "outside_liver",
                        f"lesion with mask value {inst.source_label} ({inst.n_voxels} voxels) "
                        f"lies {where} the liver mask ({inside:.0%} inside): wrong mask, or not "
                        "a liver lesion.",
                        severity,
                    )
                )
    if row.lesion_labels is None:
        return problems
    try:
        classes = read_lesion_labels(row.lesion_labels)
    except LivermetsError as exc:
        problems.append(Problem(row.patient_id, "lesion_labels", "unreadable", str(exc)))
        return problems
    present = {inst.source_label for inst in instances}
    allowed = settings.allowed_labels or KNOWN_LESION_CLASSES
    for value in sorted(present - set(classes)):
        problems.append(
            Problem(
                row.patient_id,
                "lesion_labels",
                "unlabelled_lesion",
                f"lesion mask value {value} has no class in {row.lesion_labels.name}.",
            )
        )
    for value in sorted(set(classes) - present):
        problems.append(
            Problem(
                row.patient_id,
                "lesion_labels",
                "missing_lesion",
                f"{row.lesion_labels.name} gives a class for mask value {value}, "
                "which is not in the lesion mask.",
            )
        )
    for value, cls in sorted(classes.items()):
        if cls not in allowed:
            problems.append(
                Problem(
                    row.patient_id,
                    "lesion_labels",
                    "unknown_label",
                    f"class '{cls}' of lesion {value} is not one of "
                    f"{sorted(allowed)}. Fix the spelling or declare it with "
                    "--labels.",
                )
            )
    return problems


def validate_cohort(
    manifest: Manifest,
    settings: ValidationSettings | None = None,
    progress: PatientProgress | None = None,
    rows: Iterable[PatientRow] | None = None,
) -> ValidationReport:
    """Run every check on every row and collect all problems."""
    settings = settings or ValidationSettings()
    all_rows = list(rows if rows is not None else manifest.rows())
    problems = check_table(manifest, settings)
    for row in all_rows:
        problems += check_row(row, settings)
        if progress is not None:
            progress(row.patient_id)
    return ValidationReport(n_patients=len(all_rows), problems=problems)
