"""The other tasks: multi-phase enhancement patterns, MRI, survival and origin cohorts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.synth import CT_PROTOCOLS, generate_cohort, make_config
from livermets.synth.anatomy import T, hu_table
from livermets.synth.ct import render_ct
from livermets.synth.grid import Grid
from livermets.synth.lesions import MAKERS
from livermets.synth.tasks import LIVER_FOV

from .measure import read

PHASES = ("nc", "arterial", "venous", "delayed")


def _phase_means(kind: str, diameter: float, seed: int) -> dict[str, float]:
    """Render one lesion of ``kind`` on all four phases; its mean HU per phase inside the mask."""
    rng = np.random.default_rng(seed)
    lesion = MAKERS[kind](rng, diameter)
    proto = CT_PROTOCOLS["A"]
    grid = Grid.covering(LIVER_FOV, (1.2, 1.2, 2.5))
    res = render_ct(grid, proto, PHASES, [lesion], rng, enhancement=1.0)
    assert len(res.lesions) == 1
    inside = res.instance == 1
    return {p: float(res.images[p][inside].mean()) for p in PHASES}


LIVER = {p: float(hu_table(i, 1.0, 0.0)[int(T.LIVER)]) for i, p in enumerate(PHASES)}

# (class, diameter mm, check on the per-phase lesion means m and liver means LIVER)
PATTERNS = [
    ("hcc", 30.0, lambda m: m["arterial"] > LIVER["arterial"] + 10
     and m["arterial"] > m["venous"] > m["delayed"] and m["venous"] < LIVER["venous"]),
    ("fnh", 30.0, lambda m: m["arterial"] > LIVER["arterial"] + 25
     and abs(m["venous"] - LIVER["venous"]) < 25),
    ("cyst", 25.0, lambda m: all(-5 < m[p] < 40 for p in PHASES)
     and max(m.values()) - min(m.values()) < 10),
    ("icc", 40.0, lambda m: m["delayed"] > m["venous"] > m["nc"] + 10),
    ("metastasis", 30.0, lambda m: m["venous"] < LIVER["venous"] - 20 and m["nc"] < LIVER["nc"]),
    ("calcification", 10.0, lambda m: min(m.values()) > 150),
    ("other", 30.0, lambda m: m["venous"] < LIVER["venous"] - 20),
]


@pytest.mark.parametrize(("kind", "diameter", "check"), PATTERNS, ids=[p[0] for p in PATTERNS])
def test_multiphase_enhancement_patterns(kind: str, diameter: float, check: object) -> None:
    """Each class shows its documented enhancement pattern over the four phases."""
    means = _phase_means(kind, diameter, seed=11)
    assert check(means), means  # type: ignore[operator]


def test_hemangioma_fills_in_progressively() -> None:
    """Hemangiomas brighten from arterial to delayed phase (centripetal fill-in), on average."""
    rises = [(_phase_means("hemangioma", 30.0, seed)) for seed in range(4)]
    assert np.mean([m["delayed"] - m["nc"] for m in rises]) > 30
    assert all(m["delayed"] >= m["arterial"] - 5 for m in rises)


def test_multiphase_cohort_files(tmp_path: Path) -> None:
    """Four co-registered phase images per patient; image is the venous one."""
    generate_cohort(make_config("multiphase-multiclass", 2, 4, scale=2.5), tmp_path, workers=1)
    man = pd.read_csv(tmp_path / "manifest.csv")
    for col in ("image_nc", "image_arterial", "image_venous", "image_delayed"):
        assert col in man.columns
    assert list(man["image"]) == list(man["image_venous"])
    rec = man.iloc[0]
    sizes = {sitk.ReadImage(str(tmp_path / rec[c])).GetSize() for c in man.columns
             if c.startswith("image")}
    assert len(sizes) == 1
    assert set(man["label"]) <= set(MAKERS)
    assert {"afp", "hepatitis"} <= set(man.columns)


def test_slm_clinical_mri(tmp_path: Path) -> None:
    """T2, DWI and ADC on one grid with the tumour mask; tumour bright on DWI, dark on ADC."""
    generate_cohort(make_config("slm-clinical", 3, 9, scale=1.5), tmp_path, workers=1)
    man = pd.read_csv(tmp_path / "manifest.csv")
    assert set(man["modality"]) == {"MR"}
    assert man["lesion_mask"].isna().all() and man["liver_mask"].isna().all()
    assert set(man["label"]) <= {0, 1}
    for rec in man.itertuples(index=False):
        assert rec.image == rec.image_t2
        mask, image = read(tmp_path / rec.primary_mask)
        dwi, dwi_image = read(tmp_path / rec.image_dwi)
        adc, _ = read(tmp_path / rec.image_adc)
        assert dwi_image.GetSize() == image.GetSize()
        assert dwi_image.GetOrigin() == pytest.approx(image.GetOrigin())
        tumour = mask > 0
        assert tumour.sum() > 50
        body = dwi > 0
        assert dwi[tumour].mean() > 2 * np.median(dwi[body & ~tumour])
        assert 600 < np.median(adc[tumour]) < 1300


def test_mlm_survival_cohort(tmp_path: Path) -> None:
    """Primary-tumour mask, no lesions at baseline, follow-up time and event columns."""
    generate_cohort(make_config("mlm-survival", 2, 3, scale=2.5), tmp_path, workers=1)
    man = pd.read_csv(tmp_path / "manifest.csv")
    assert man["lesion_mask"].isna().all()
    assert {"time_months", "event", "afp", "lymph_nodes_dissected", "perineural_invasion",
            "tumour_nodules"} <= set(man.columns)
    assert (man["time_months"] > 0).all() and set(man["event"]) <= {0, 1}
    for rec in man.itertuples(index=False):
        mask, _ = read(tmp_path / rec.primary_mask)
        img, _ = read(tmp_path / rec.image)
        assert mask.sum() > 20
        assert 20 < img[mask > 0].mean() < 140


def test_crc_vs_pdac_origin(tmp_path: Path) -> None:
    """Every lesion carries its patient's origin; pancreatic patients have more, smaller lesions."""
    generate_cohort(make_config("crc-vs-pdac", 6, 12, scale=2.5), tmp_path, workers=1)
    man = pd.read_csv(tmp_path / "manifest.csv")
    truth = pd.read_csv(tmp_path / "truth.csv")
    origin = dict(zip(man["patient_id"], man["label"], strict=True))
    assert (truth["label"] == truth["patient_id"].map(origin)).all()
    assert set(man["tumour_site"]) == {"unknown"}
    per = truth.groupby("label").agg(n=("diameter_mm", "size"), d=("diameter_mm", "median"))
    patients = man["label"].value_counts()
    assert set(patients.index) == {"crc", "pdac"}
    assert per.loc["pdac", "n"] / patients["pdac"] > per.loc["crc", "n"] / patients["crc"]
    assert per.loc["pdac", "d"] < per.loc["crc", "d"]
