"""Lesion crops: windows, modes, masking, multi-phase order, cache."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.deep.config import CropSettings
from livermets.deep.crops import _window, build_crops, canonical_phase, load_crops


def test_window_presets():
    assert CropSettings(window="seed").window_bounds() == (10 - 165, 10 + 165)
    assert CropSettings(window="abdomen").window_bounds() == (-150, 250)
    assert CropSettings(window=(40.0, 100.0)).window_bounds() == (-10, 90)
    out = _window(np.array([-1000.0, -150.0, 50.0, 250.0, 3000.0]), (-150, 250))
    assert out.tolist() == pytest.approx([0, 0, 0.5, 1, 1])


def test_phase_order():
    names = ["image_delayed", "image_venous", "image_nc", "image_arterial"]
    assert sorted(names, key=lambda n: canonical_phase(n)[0]) == [
        "image_nc", "image_arterial", "image_venous", "image_delayed"]
    assert canonical_phase("image_pv")[1] == "venous"


def test_2d_crops_and_cache(synth_cohort, crops_2d, tmp_path):
    manifest, lesions = synth_cohort
    assert crops_2d.images.shape[1:] == (1, 32, 32)
    assert crops_2d.images.dtype == np.float32
    assert crops_2d.images.min() >= 0.0 and crops_2d.images.max() <= 1.0
    per_lesion = crops_2d.meta.groupby(["patient_id", "lesion_id"]).size()
    assert len(per_lesion) == len(lesions) and per_lesion.max() <= 3
    settings = CropSettings(size=16, mode="2.5d", context=3, max_slices=1, mask_outside=True)
    first = build_crops(manifest, lesions, settings, tmp_path)
    cached = list(tmp_path.glob("crops-*.npz"))
    assert len(cached) == 1
    again = load_crops(cached[0], settings)
    assert np.array_equal(first.images, again.images)
    assert again.meta.equals(first.meta)
    assert first.images.shape[1:] == (3, 16, 16)
    # masking: the corners (outside any lesion) are zero, the centre is not
    assert np.all(first.images[:, :, 0, 0] == 0) and first.images[:, 1, 8, 8].mean() > 0


def test_3d_crops(synth_cohort):
    manifest, lesions = synth_cohort
    sub = lesions.head(3)
    crops = build_crops(manifest, sub, CropSettings(mode="3d", size=16, depth=8))
    assert crops.images.shape == (3, 1, 8, 16, 16)


def test_multiphase_crops_with_a_missing_delayed_phase(tmp_path):
    import pandas as pd
    import torch

    from livermets.cohort import load_manifest
    from livermets.deep.networks import LesionNet
    from livermets.lesions import LesionSettings, build_lesion_tables
    from livermets.synth import generate_cohort, make_config

    cohort = generate_cohort(make_config("multiphase-multiclass", 4, 0, 1, scale=3.0),
                             tmp_path / "c", workers=1)
    table = pd.read_csv(cohort.manifest)
    table.loc[0, "image_delayed"] = None  # the first patient has no delayed phase
    path = cohort.manifest.with_name("no_delayed.csv")
    table.to_csv(path, index=False)
    manifest = load_manifest(path)
    lesions, _ = build_lesion_tables(manifest, LesionSettings())
    crops = build_crops(manifest, lesions, CropSettings(size=16, slices="largest"))
    assert crops.phases == ["nc", "arterial", "venous", "delayed"]
    assert crops.images.shape == (len(lesions), 4, 16, 16)
    first = (crops.meta["patient_id"] == str(table.loc[0, "patient_id"])).to_numpy()
    assert first.any() and not crops.present[first, 3].any() and crops.present[~first].all()
    assert np.all(crops.images[first, 3] == 0) and crops.images[first, :3].max() > 0
    torch.manual_seed(0)
    model = LesionNet("densenet_tiny", 2, 4, 1, 5, fusion="iterative").eval()
    logits = model(torch.from_numpy(crops.images), torch.from_numpy(crops.present))
    assert logits.shape == (len(lesions), 5) and torch.isfinite(logits).all()
