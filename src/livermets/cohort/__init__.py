"""The cohort manifest: reading it, resolving its paths, and validating every row."""

from livermets.cohort.labels import read_lesion_labels
from livermets.cohort.manifest import Manifest, PatientRow, load_manifest
from livermets.cohort.validate import Problem, ValidationReport, validate_cohort

__all__ = [
    "Manifest",
    "PatientRow",
    "Problem",
    "ValidationReport",
    "load_manifest",
    "read_lesion_labels",
    "validate_cohort",
]
