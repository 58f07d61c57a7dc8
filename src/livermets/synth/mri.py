"""Rectal MRI for slm-clinical: pelvis phantom, rectal tumour, nodes; T2, DWI (b800) and ADC."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from livermets.synth import clinical as cl
from livermets.synth.grid import Grid
from livermets.synth.scanner import MR_PROTOCOLS, blur, smooth_field
from livermets.synth.shapes import paint_ellipsoid, paint_tube
from livermets.synth.writer import write_nifti


class M(IntEnum):
    """Tissue labels of the pelvic MRI phantom."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    MARROW = 3
    CORTEX = 4
    BLADDER = 5
    MESO_FAT = 6
    FASCIA = 7
    MUCOSA = 8
    MUSCULARIS = 9
    LUMEN = 10
    TUMOUR = 11
    NODE = 12
    VESSEL = 13
    ORGAN = 14


# (T2 signal a.u., DWI b=800 signal a.u., ADC in 1e-6 mm^2/s); tumour ADC ~0.8-1.1e-3 and normal
# wall ~1.4-1.6e-3 mm^2/s (Curvo-Semedo 2012), fluid ~2.6-3.0e-3, fat suppressed on DWI.
MR_TISSUE: dict[M, tuple[float, float, float]] = {
    M.AIR: (0, 0, 0), M.FAT: (720, 25, 250), M.MUSCLE: (170, 90, 1400), M.MARROW: (470, 60, 500),
    M.CORTEX: (40, 10, 300), M.BLADDER: (980, 60, 2900), M.MESO_FAT: (700, 25, 250),
    M.FASCIA: (120, 20, 800), M.MUCOSA: (430, 210, 1550), M.MUSCULARIS: (180, 110, 1450),
    M.LUMEN: (880, 110, 2600), M.TUMOUR: (380, 650, 950), M.NODE: (360, 520, 1050),
    M.VESSEL: (40, 15, 0), M.ORGAN: (520, 220, 1600),
}


@dataclass
class RectalTumour:
    """A rectal cancer: position, extent, invasion depth, nodes and signal parameters."""

    z_mm: float
    length_mm: float
    arc_deg: float
    arc_start_deg: float
    thickness_mm: float
    extramural_mm: float
    emvi: bool
    t2: float
    t2_texture: float
    adc: float
    nodes: list[tuple[np.ndarray, float]]


def sample_slm(rng: np.random.Generator, centre: str) -> Any:
    """Rectal-cancer patients, with or without synchronous liver metastasis (latent-risk model)."""
    from livermets.synth.tasks import PatientPlan

    # two independent latent factors: tumour biology seen on MRI (z) and systemic disease seen in
    # the blood markers (zc); both raise the risk, so imaging and clinical data each add signal
    z = rng.normal()
    zc = rng.normal()
    logit = -1.5 + 1.1 * z + 1.1 * zc + (0.15 if centre == "B" else 0.0)
    label = int(rng.random() < cl.sigmoid(logit))
    extramural = float(max(0.0, rng.normal(2.5 + 2.5 * z, 2.5)))
    t_stage = "T2" if extramural < 0.5 else "T4" if extramural > 10 else "T3"
    n_nodes = int(min(rng.poisson(np.exp(0.7 + 0.4 * z)), 9))
    nodes = []
    for _ in range(n_nodes):
        angle = rng.uniform(0, 2 * np.pi)
        radius = rng.uniform(22, 32)
        centre_mm = np.array([radius * np.cos(angle), 35 + 0.8 * radius * np.sin(angle),
                              rng.uniform(-30, 30)])
        nodes.append((centre_mm, float(np.clip(rng.normal(4.5 + 1.0 * z, 1.3), 2.0, 9.0))))
    tumour = RectalTumour(
        z_mm=float(rng.uniform(-12, 12)), length_mm=float(np.clip(rng.normal(40 + 5 * z, 8), 18,
                                                                    65)),
        arc_deg=float(np.clip(rng.normal(220 + 40 * z, 60), 90, 360)),
        arc_start_deg=float(rng.uniform(0, 360)),
        thickness_mm=float(np.clip(rng.normal(11 + 1.5 * z, 2.5), 5, 20)),
        extramural_mm=extramural, emvi=bool(rng.random() < cl.sigmoid(-1.3 + 1.2 * z)),
        t2=float(rng.normal(380, 30)), t2_texture=float(np.clip(rng.normal(40 + 10 * z, 8), 15,
                                                                 80)),
        adc=float(np.clip(rng.normal(960 - 70 * z, 80), 600, 1300)), nodes=nodes,
    )
    clinical = {
        "age": cl.age(rng, 63.0 + 1.0 * zc, 11.0), "sex": cl.sex(rng, 0.6 + 0.04 * zc),
        "cea": cl.marker(rng, 3.5 * np.exp(0.7 * zc), 0.8),
        "ca19_9": cl.marker(rng, 12.0 * np.exp(0.4 * zc), 0.8),
        "tumour_site": cl.choice(rng, {"low_rectum": 1.0, "mid_rectum": 1.2,
                                       "upper_rectum": float(np.exp(0.3 * zc))}),
        "t_stage": t_stage,
    }
    truth = {"latent_risk": round(float(z), 4), "latent_systemic": round(float(zc), 4),
             "extramural_mm": round(extramural, 3),
             "emvi": int(tumour.emvi), "tumour_adc": round(tumour.adc, 1),
             "tumour_t2_texture": round(tumour.t2_texture, 3), "n_nodes": n_nodes,
             "tumour_length_mm": round(tumour.length_mm, 2),
             "tumour_arc_deg": round(tumour.arc_deg, 1)}
    return PatientPlan(clinical, label, [], 1.0, primary=tumour, truth=truth)


def render_pelvis(grid: Grid, tumour: RectalTumour, sex: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paint the pelvic label volume and return it with the tumour mask."""
    labels = np.zeros(grid.shape, dtype=np.uint8)
    x, y, z = grid.coords()
    x2, y2 = x[0], y[0]
    a, b = rng.uniform(150, 185), rng.uniform(105, 125)
    body = (x2 / a) ** 2 + ((y2 - 5) / b) ** 2 < 1
    plane = np.where(body, M.FAT, M.AIR).astype(np.uint8)
    labels[:] = plane[None]
    sacrum = ((x2 / 48.0) ** 2 + ((y2 - 82.0) / 13.0) ** 2) < 1
    sacrum_in = ((x2 / 44.0) ** 2 + ((y2 - 82.0) / 9.0) ** 2) < 1
    labels[np.broadcast_to(sacrum[None], labels.shape)] = M.CORTEX
    labels[np.broadcast_to(sacrum_in[None], labels.shape)] = M.MARROW
    for side in (-1.0, 1.0):
        paint_ellipsoid(labels, grid, np.array([side * 66.0, 15.0, 0.0]),
                        np.array([16.0, 45.0, 80.0]), M.MUSCLE, angle=side * 0.25)
        paint_ellipsoid(labels, grid, np.array([side * 86.0, 10.0, 0.0]),
                        np.array([14.0, 40.0, 80.0]), M.CORTEX)
        paint_ellipsoid(labels, grid, np.array([side * 86.0, 10.0, 0.0]),
                        np.array([11.0, 36.0, 80.0]), M.MARROW)
        for dy in (-8.0, 8.0):
            paint_tube(labels, grid, np.array([side * 50.0, dy, -60.0]),
                       np.array([side * 55.0, dy + 5.0, 60.0]), 4.0, 4.0, M.VESSEL)
    paint_ellipsoid(labels, grid, np.array([0.0, -42.0, 8.0]) + rng.normal(0, 3, 3),
                    np.array([rng.uniform(30, 45), rng.uniform(20, 30), 32.0]), M.BLADDER)
    paint_ellipsoid(labels, grid, np.array([0.0, -6.0, -5.0]),
                    np.array([24.0, 12.0, 25.0]) * (1.0 if sex == "M" else 1.2), M.ORGAN)
    # mesorectum with its fascia, rectal wall layers and lumen
    meso_c, meso_s = np.array([0.0, 38.0, 0.0]), np.array([40.0, 30.0, 200.0])
    paint_ellipsoid(labels, grid, meso_c, meso_s + 1.5, M.FASCIA)
    paint_ellipsoid(labels, grid, meso_c, meso_s, M.MESO_FAT)
    for lab, r in ((M.MUSCULARIS, 15.0), (M.MUCOSA, 12.0), (M.LUMEN, 9.0)):
        paint_tube(labels, grid, np.array([0.0, 38.0, -60.0]), np.array([0.0, 30.0, 60.0]), r, r,
                   lab)
    for centre, diameter in tumour.nodes:
        paint_ellipsoid(labels, grid, centre, np.array([diameter, diameter * 0.8,
                                                         diameter]) / 2, M.NODE,
                        onto=(M.MESO_FAT,))
    mask = _paint_tumour(labels, grid, tumour, x, y, z)
    return labels, mask


def _paint_tumour(labels: np.ndarray, grid: Grid, tumour: RectalTumour, x: np.ndarray,
                  y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """A semi-annular wall tumour with extramural extension and optional EMVI."""
    yc = 38.0 - (z + 60.0) / 120.0 * 8.0
    dx, dy = x - 0.0, y - yc
    r = np.sqrt(dx**2 + dy**2)
    ang = np.degrees(np.arctan2(dy, dx)) % 360.0
    rel = (ang - tumour.arc_start_deg) % 360.0
    in_arc = rel <= tumour.arc_deg
    # taper the tumour towards its ends and the arc edges
    zt = np.clip(1.0 - np.abs(z - tumour.z_mm) / (0.5 * tumour.length_mm), 0.0, 1.0)
    edge = np.clip(np.minimum(rel, tumour.arc_deg - rel) / 25.0, 0.0, 1.0) if (
        tumour.arc_deg < 360) else np.ones_like(rel)
    depth = np.sqrt(zt) * edge
    inner = 15.0 - tumour.thickness_mm * depth
    outer = 15.0 + tumour.extramural_mm * depth
    mask = in_arc & (r >= inner) & (r <= outer) & (depth > 0.05)
    mask &= np.isin(labels, (M.MUSCULARIS, M.MUCOSA, M.LUMEN, M.MESO_FAT))
    if tumour.emvi:
        theta = np.radians(tumour.arc_start_deg + 0.5 * tumour.arc_deg)
        start = np.array([15.0 * np.cos(theta), 38.0 + 15.0 * np.sin(theta), tumour.z_mm])
        end = start + np.array([20.0 * np.cos(theta), 20.0 * np.sin(theta), 8.0])
        vessel = np.zeros(labels.shape, dtype=np.uint8)
        paint_tube(vessel, grid, start, end, 2.5, 1.8, 1)
        mask |= (vessel > 0) & np.isin(labels, (M.MESO_FAT, M.MUSCULARIS))
    labels[mask] = M.TUMOUR
    return mask


def _rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise (Rician-distributed)."""
    re = signal + rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    im = rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    return np.sqrt(re * re + im * im)


def render_mr_patient(config: Any, pid: str, centre: str, plan: Any, rng: np.random.Generator,
                      root: Path) -> dict[str, Any]:
    """Render and write one slm-clinical patient: T2, DWI, ADC and the tumour mask."""
    proto = MR_PROTOCOLS[centre]
    from livermets.synth.tasks import TASKS

    sxy = round(proto.spacing_xy_mm * config.scale, 6)
    sz = round(proto.slice_mm * config.scale, 6)
    grid = Grid.covering(TASKS[config.task].fov, (sxy, sxy, sz))
    tumour: RectalTumour = plan.primary
    labels, mask = render_pelvis(grid, tumour, plan.clinical["sex"], rng)
    lut = np.array([MR_TISSUE[M(i)] for i in range(len(M))], dtype=np.float32)
    lut[int(M.TUMOUR)] = (tumour.t2, 650.0 * (960.0 / tumour.adc) ** 1.5, tumour.adc)
    tex = smooth_field(grid.shape, tuple(1.5 / grid.spacing[a] for a in (2, 1, 0)), rng, 2)
    bias = 1.0 + 0.12 * smooth_field(grid.shape, tuple(60.0 / grid.spacing[a] for a in (2, 1, 0)),
                                     rng, 8)
    tumour_vox = labels == M.TUMOUR
    t2 = lut[labels, 0] + np.where(tumour_vox, tumour.t2_texture, 12.0) * tex
    t2 = blur(t2, (0.45, 0.45, 0.4 * sz), grid.spacing) * bias * proto.signal_gain
    t2 = _rician(t2, proto.signal_gain * 470.0 / proto.t2_snr, rng)
    psf = proto.dwi_psf_mm
    dwi = blur(lut[labels, 1] * (1.0 + 0.08 * tex), (psf, psf, 0.5 * sz), grid.spacing) * bias
    dwi = _rician(dwi, 100.0 / proto.dwi_snr, rng)
    adc_true = blur(lut[labels, 2] + np.where(tumour_vox, 60.0, 30.0) * tex, (psf, psf, 0.5 * sz),
                    grid.spacing)
    adc_noise = 40.0 + 4000.0 / np.maximum(dwi, 20.0)
    adc = adc_true * proto.adc_scale + rng.normal(0.0, 1.0, grid.shape) * adc_noise
    rel = Path("patients") / pid
    folder = root / rel
    images = {"t2": t2, "dwi": dwi, "adc": np.clip(adc, 0, 4000)}
    for name, array in images.items():
        write_nifti(np.clip(np.rint(array), 0, 32000).astype(np.int16), grid,
                    folder / f"mr_{name}.nii.gz")
    write_nifti(mask.astype(np.uint8), grid, folder / "primary_mask.nii.gz")
    row: dict[str, Any] = {
        "patient_id": pid, "image": str(rel / "mr_t2.nii.gz"),
        "image_t2": str(rel / "mr_t2.nii.gz"), "image_dwi": str(rel / "mr_dwi.nii.gz"),
        "image_adc": str(rel / "mr_adc.nii.gz"), "lesion_mask": None, "liver_mask": None,
        "primary_mask": str(rel / "primary_mask.nii.gz"), "lesion_labels": None,
        "label": plan.label, "center": centre, "modality": "MR", **plan.clinical,
    }
    patient = {"patient_id": pid, "center": centre, "spacing_x_mm": sxy, "spacing_z_mm": sz,
               "tumour_voxels": int(mask.sum()), **plan.truth}
    return {"manifest": row, "truth": [], "patient": patient,
            "clinical_columns": list(plan.clinical)}
