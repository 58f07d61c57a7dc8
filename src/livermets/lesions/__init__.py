"""Lesion instances and measurements: components, diameters, volumes, size groups."""

from livermets.io.instances import LesionInstance, split_instances  # re-exported
from livermets.lesions.measure import (
    axial_diameter,
    max_3d_diameter,
    size_group,
    size_group_names,
)
from livermets.lesions.table import (
    LESION_COLUMNS,
    PATIENT_COLUMNS,
    LesionSettings,
    build_lesion_tables,
    measure_lesions,
    measure_patient,
)

__all__ = [
    "LESION_COLUMNS",
    "PATIENT_COLUMNS",
    "LesionInstance",
    "LesionSettings",
    "axial_diameter",
    "build_lesion_tables",
    "max_3d_diameter",
    "measure_lesions",
    "measure_patient",
    "size_group",
    "size_group_names",
    "split_instances",
]
