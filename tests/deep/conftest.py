"""A small coarse synthetic cohort and its crops, shared by the deep tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synth_cohort(tmp_path_factory):
    """30 synthetic metastasis / hemangioma patients at 2x coarser voxels: (manifest, lesions)."""
    from livermets.cohort import load_manifest
    from livermets.lesions import LesionSettings, build_lesion_tables
    from livermets.synth import generate_cohort, make_config

    out = tmp_path_factory.mktemp("deep_cohort")
    cohort = generate_cohort(make_config("crlm-vs-hemangioma", 30, 1, 1, scale=2.0), out,
                             workers=1)
    manifest = load_manifest(cohort.manifest)
    lesions, _ = build_lesion_tables(manifest, LesionSettings())
    return manifest, lesions


@pytest.fixture(scope="session")
def crops_2d(synth_cohort, tmp_path_factory):
    """2D 32-px crops (3 largest slices per lesion), cached."""
    from livermets.deep.config import CropSettings
    from livermets.deep.crops import build_crops

    manifest, lesions = synth_cohort
    return build_crops(manifest, lesions, CropSettings(size=32, max_slices=3),
                       tmp_path_factory.mktemp("crop_cache"))
