"""The synthetic study tasks: who the patients are, which lesions they have, their clinical data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from livermets.synth import clinical as cl
from livermets.synth.ct import PrimaryTumour
from livermets.synth.grid import Box
from livermets.synth.lesions import (
    Lesion,
    make_calcification,
    make_cyst,
    make_fnh,
    make_hcc,
    make_hemangioma,
    make_icc,
    make_metastasis,
    make_other,
)

LIVER_FOV = Box((-170.0, -120.0, -85.0), (58.0, 88.0, 85.0))
ABDOMEN_FOV = Box((-175.0, -125.0, -275.0), (175.0, 95.0, 85.0))
PELVIS_FOV = Box((-80.0, -70.0, -45.0), (80.0, 90.0, 45.0))


@dataclass
class PatientPlan:
    """Everything drawn for one patient before rendering."""

    clinical: dict[str, Any]
    label: Any
    lesions: list[Lesion] = field(default_factory=list)
    enhancement: float = 1.0
    liver_texture: float = 1.0
    primary: Any = None
    truth: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A study task: modality, unit of analysis, field of view, phases and patient sampler."""

    name: str
    modality: str
    level: str
    fov: Box
    default_phases: tuple[str, ...]
    sample: Callable[[np.random.Generator, str], PatientPlan]
    summary: str
    staging: bool = False


def _enhancement(rng: np.random.Generator) -> float:
    """Patient contrast-enhancement factor (cardiac output, weight, injection)."""
    return float(np.clip(rng.normal(1.0, 0.07), 0.8, 1.2))


def _crlm_vs_hemangioma(rng: np.random.Generator, centre: str) -> PatientPlan:
    """CRC patients with colorectal liver metastases and/or hemangiomas (portal-venous CT)."""
    metastatic = rng.random() < (0.45 if centre == "A" else 0.52)
    lesions: list[Lesion] = []
    if metastatic:
        for d in cl.sizes(rng, cl.count(rng, 1, 1.5, 8), 17.0, 0.65, 5.0, 50.0):
            lesions.append(make_metastasis(rng, d))
        if rng.random() < 0.25:
            lesions.append(make_hemangioma(rng, cl.lognormal(rng, 12.0, 0.6, 5.0, 50.0)))
    else:
        for d in cl.sizes(rng, cl.count(rng, 1, 0.9, 5), 13.0, 0.65, 5.0, 50.0):
            lesions.append(make_hemangioma(rng, d))
    clinical = {
        "age": cl.age(rng, 64.0, 10.0), "sex": cl.sex(rng, 0.58),
        "cea": cl.marker(rng, 9.0 if metastatic else 2.6, 1.0 if metastatic else 0.7),
        "ca19_9": cl.marker(rng, 24.0 if metastatic else 12.0, 1.0 if metastatic else 0.8),
        "tumour_site": cl.choice(rng, {"right_colon": 0.3, "left_colon": 0.4, "rectum": 0.3}),
    }
    return PatientPlan(clinical, int(metastatic), lesions, _enhancement(rng))


def _crc_vs_pdac(rng: np.random.Generator, centre: str) -> PatientPlan:
    """Liver metastases of colorectal or pancreatic origin; the primary is not given."""
    pdac = rng.random() < (0.5 if centre == "A" else 0.42)
    origin = "pdac" if pdac else "crc"
    if pdac:
        diam = cl.sizes(rng, cl.count(rng, 3, 5.0, 18), 10.0, 0.5, 4.0, 35.0)
    else:
        diam = cl.sizes(rng, cl.count(rng, 1, 2.5, 10), 16.0, 0.6, 5.0, 50.0)
    lesions = [make_metastasis(rng, d, label=origin, origin=origin) for d in diam]
    clinical = {
        "age": cl.age(rng, 67.0 if pdac else 63.0, 9.0 if pdac else 11.0),
        "sex": cl.sex(rng, 0.53 if pdac else 0.58),
        "cea": cl.marker(rng, 4.0 if pdac else 12.0, 1.0 if pdac else 1.1),
        "ca19_9": cl.marker(rng, 400.0 if pdac else 30.0, 1.5 if pdac else 1.2),
        "tumour_site": "unknown",
    }
    return PatientPlan(clinical, origin, lesions, _enhancement(rng))


_MULTICLASS_PREVALENCE = {
    "hcc": 0.2, "icc": 0.08, "metastasis": 0.2, "hemangioma": 0.17, "fnh": 0.08, "cyst": 0.15,
    "calcification": 0.05, "other": 0.07,
}
# diameter distribution per class: median, log-SD, min, max (mm)
_MULTICLASS_SIZE = {
    "hcc": (28.0, 0.55, 8.0, 50.0), "icc": (38.0, 0.4, 15.0, 55.0),
    "metastasis": (18.0, 0.6, 5.0, 50.0), "hemangioma": (16.0, 0.6, 5.0, 50.0),
    "fnh": (25.0, 0.45, 8.0, 50.0), "cyst": (12.0, 0.6, 4.0, 40.0),
    "calcification": (5.0, 0.4, 2.5, 12.0), "other": (30.0, 0.4, 10.0, 50.0),
}
_MULTICLASS_MAKERS: dict[str, Callable[..., Lesion]] = {
    "hcc": make_hcc, "icc": make_icc, "metastasis": make_metastasis,
    "hemangioma": make_hemangioma, "fnh": make_fnh, "cyst": make_cyst,
    "calcification": make_calcification, "other": make_other,
}


def _multiclass_lesion(rng: np.random.Generator, kind: str) -> Lesion:
    """One lesion of a class with that class's size distribution."""
    median, sigma, lo, hi = _MULTICLASS_SIZE[kind]
    return _MULTICLASS_MAKERS[kind](rng, cl.lognormal(rng, median, sigma, lo, hi))


def _multiphase_multiclass(rng: np.random.Generator, centre: str) -> PatientPlan:
    """Focal liver lesions of 8 classes on multi-phase CT (NC, arterial, venous, delayed)."""
    main = cl.choice(rng, _MULTICLASS_PREVALENCE)
    lesions = [_multiclass_lesion(rng, main)]
    if main in ("metastasis", "hcc", "cyst", "hemangioma"):
        lesions += [_multiclass_lesion(rng, main) for _ in range(cl.count(rng, 0, 0.8, 4))]
    if rng.random() < 0.3:
        extra = cl.choice(rng, {"cyst": 0.5, "hemangioma": 0.3, "calcification": 0.2})
        lesions.append(_multiclass_lesion(rng, extra))
    hepatitis = rng.random() < (0.75 if main == "hcc" else 0.12)
    cancer_history = rng.random() < (0.85 if main == "metastasis" else 0.12)
    clinical = {
        "age": cl.age(rng, 40.0 if main == "fnh" else 62.0, 12.0),
        "sex": cl.sex(rng, 0.75 if main == "hcc" else 0.2 if main == "fnh" else 0.5),
        "cea": cl.marker(rng, 8.0 if main == "metastasis" else 2.5, 1.0),
        "ca19_9": cl.marker(rng, 150.0 if main == "icc" else 15.0, 1.2),
        "afp": cl.marker(rng, 60.0 if main == "hcc" else 4.0, 1.5 if main == "hcc" else 0.5),
        "hepatitis": int(hepatitis),
        "tumour_site": "colorectal" if cancer_history else "none",
    }
    return PatientPlan(clinical, main, lesions, _enhancement(rng),
                       liver_texture=1.8 if hepatitis else 1.0)


_COLON_SITES = {
    "right_colon": (0.10, 0.22), "transverse_colon": (0.42, 0.55), "left_colon": (0.70, 0.80),
    "sigmoid": (0.88, 0.95),
}


def _mlm_survival(rng: np.random.Generator, centre: str) -> PatientPlan:
    """Resected colon cancer without liver metastasis at baseline; time to metachronous LM."""
    risk = rng.normal()
    t_stage = cl.choice(rng, {"T2": np.exp(-0.8 * risk), "T3": 2.0, "T4": np.exp(0.8 * risk)})
    nodes = int(np.clip(rng.poisson(16), 4, 45))
    positive = int(min(nodes, rng.poisson(np.exp(0.2 + 0.7 * risk))))
    site = cl.choice(rng, {"right_colon": 0.3, "transverse_colon": 0.1, "left_colon": 0.2,
                           "sigmoid": 0.4})
    clinical = {
        "age": cl.age(rng, 66.0, 10.0), "sex": cl.sex(rng, 0.55),
        "cea": cl.marker(rng, 3.0 * np.exp(0.5 * risk), 0.7),
        "ca19_9": cl.marker(rng, 12.0 * np.exp(0.3 * risk), 0.8),
        "afp": cl.marker(rng, 3.0 * np.exp(0.15 * risk), 0.5),
        "tumour_site": site, "t_stage": t_stage, "n_stage": "N0" if positive == 0 else
        "N1" if positive <= 3 else "N2",
        "lymph_nodes_dissected": nodes, "positive_lymph_nodes": positive,
        "perineural_invasion": int(rng.random() < cl.sigmoid(-1.0 + 0.8 * risk)),
        "tumour_nodules": int(rng.random() < cl.sigmoid(-1.6 + 0.8 * risk)),
    }
    lo, hi = _COLON_SITES[site]
    primary = PrimaryTumour(
        where=float(rng.uniform(lo, hi)), length_mm=float(rng.uniform(30, 60)),
        thickness_mm=float(np.clip(rng.normal(12 + 3 * (t_stage == "T4"), 3), 6, 22)),
        hu_venous=float(rng.normal(80.0 - 6.0 * risk, 7.0)),
        texture_sd=float(np.clip(rng.normal(10.0 + 3.0 * risk, 2.0), 4.0, 22.0)),
    )
    # Weibull time to metachronous liver metastasis; administrative + random censoring
    scale = 140.0 * np.exp(-0.9 * risk - 0.3 * (nodes < 12))
    t_event = float(scale * rng.weibull(1.3))
    t_censor = float(min(rng.uniform(12.0, 72.0), rng.exponential(240.0)))
    clinical["time_months"] = round(min(t_event, t_censor), 1)
    clinical["event"] = int(t_event <= t_censor)
    liver_texture = float(np.exp(0.15 * risk + rng.normal(0.0, 0.08)))
    truth = {"latent_risk": round(float(risk), 4), "time_event_months": round(t_event, 2),
             "time_censor_months": round(t_censor, 2), "liver_texture": round(liver_texture, 4)}
    return PatientPlan(clinical, clinical["event"], [], _enhancement(rng),
                       liver_texture=liver_texture, primary=primary, truth=truth)


def _slm_clinical(rng: np.random.Generator, centre: str) -> PatientPlan:
    """Rectal cancer on MRI; patient label = synchronous liver metastasis (see ``mri``)."""
    from livermets.synth.mri import sample_slm

    return sample_slm(rng, centre)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("crlm-vs-hemangioma", "CT", "lesion", LIVER_FOV, ("venous",), _crlm_vs_hemangioma,
             "colorectal liver metastasis vs hemangioma, portal-venous CT, lesion level"),
        Task("crc-vs-pdac", "CT", "lesion", LIVER_FOV, ("venous",), _crc_vs_pdac,
             "colorectal vs pancreatic origin of liver metastases, portal-venous CT"),
        Task("slm-clinical", "MR", "patient", PELVIS_FOV, (), _slm_clinical,
             "synchronous liver metastasis from rectal MRI (T2, DWI, ADC) + clinical data"),
        Task("mlm-survival", "CT", "survival", ABDOMEN_FOV, ("venous",), _mlm_survival,
             "time to metachronous liver metastasis from primary-tumour and liver CT + clinical",
             staging=True),
        Task("multiphase-multiclass", "CT", "lesion", LIVER_FOV,
             ("nc", "arterial", "venous", "delayed"), _multiphase_multiclass,
             "8-class focal liver lesion diagnosis on multi-phase CT"),
    )
}
