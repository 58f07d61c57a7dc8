"""IBSI-1 phantoms and reference values, run through any radiomics engine (shared by the
pyradiomics and MIRP tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk

from livermets.radiomics import get_engine, preset_params
from livermets.radiomics.ibsi import compare_ibsi, read_reference
from tests.helpers import SHARED_DATA

IBSI = SHARED_DATA / "ibsi"
REFERENCE = IBSI / "reference_values"
DIGITAL = IBSI / "ibsi_1_digital_phantom" / "nifti"
CT = IBSI / "ibsi_1_ct_radiomics_phantom" / "nifti"


def phantom(folder: Path) -> tuple[sitk.Image, sitk.Image]:
    """The phantom's image and binary mask."""
    image = sitk.ReadImage(str(folder / "image" / "phantom.nii.gz"))
    mask = sitk.Cast(sitk.ReadImage(str(folder / "mask" / "mask.nii.gz")) > 0, sitk.sitkUInt8)
    return image, mask


def run_ibsi(engine_name: str, folder: Path, preset: str, reference: str, **update: Any) -> Any:
    """``engine_name``'s features of the phantom in ``folder`` (``preset`` settings, with
    ``update``) compared with the IBSI reference table ``reference``."""
    extraction = preset_params(preset).extraction.model_copy(update=update)
    engine = get_engine(engine_name)
    features = engine.extract(*phantom(folder), extraction)
    return compare_ibsi(
        features,
        read_reference(REFERENCE / reference),
        engine.ibsi_map(),
        texture=extraction.texture,
        aggregation=extraction.texture_aggregation,
    )


def family_counts(comparison: Any) -> dict[str, tuple[int, int]]:
    """(passed, computed) per feature family, families with nothing computed left out."""
    table = comparison.family_counts()
    table = table[table["n_computed"] > 0]
    return {fam: (int(r.n_pass), int(r.n_computed)) for fam, r in table.iterrows()}
