"""Liver-lesion appearance models (per class and phase) and their rendering into CT volumes.

Each model turns a lesion's parameters into attenuation per contrast phase as a function of the
normalised radius inside the lesion (components: body, enhancing rim, necrosis, peripheral nodules,
fill-in front, capsule, central scar). Nominal values are for a standard patient; the patient's and
centre's enhancement factor scales every value's enhancement over its non-contrast value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from livermets.synth.grid import Grid
from livermets.synth.scanner import PHASES

NC, ART, VEN, DEL = 0, 1, 2, 3


@dataclass
class Lesion:
    """One lesion: class, appearance model, size, shape and per-phase appearance parameters."""

    label: str
    model: str
    subtype: str
    diameter_mm: float
    params: dict[str, float]
    axes: np.ndarray
    angle: float
    lobes: list[tuple[np.ndarray, int, float]]
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def radius(self) -> float:
        """Mean radius (mm)."""
        return 0.5 * self.diameter_mm

    def reach_mm(self) -> float:
        """Half-size (mm) of a box that holds the lesion and its blurred margin."""
        lob = sum(abs(a) for _, _, a in self.lobes)
        return self.radius * float(np.max(self.axes)) * (1.0 + lob) + 3.0 * self.params[
            "margin_mm"] + 2.0

    def truth(self) -> dict[str, float | str]:
        """The generative parameters as one flat truth-table row (without ids)."""
        row: dict[str, float | str] = {
            "label": self.label, "model": self.model, "subtype": self.subtype,
            "diameter_mm": round(self.diameter_mm, 3),
            "centre_x_mm": round(float(self.centre[0]), 3),
            "centre_y_mm": round(float(self.centre[1]), 3),
            "centre_z_mm": round(float(self.centre[2]), 3),
        }
        row.update({k: round(float(v), 4) for k, v in sorted(self.params.items())})
        return row


def _shape(rng: np.random.Generator, diameter: float, irregular: float) -> dict:
    """Random ellipsoid axes, orientation and lobulation for a lesion."""
    axes = np.exp(rng.normal(0.0, 0.07, 3))
    axes /= np.prod(axes) ** (1 / 3)
    lobes = []
    for _ in range(3):
        v = rng.normal(size=3)
        lobes.append((v / np.linalg.norm(v), int(rng.integers(2, 5)),
                      float(rng.uniform(0.0, irregular))))
    return {"axes": axes, "angle": float(rng.uniform(0, np.pi)), "lobes": lobes,
            "diameter_mm": float(diameter)}


def make_metastasis(rng: np.random.Generator, diameter: float, label: str = "metastasis",
                    origin: str = "crc") -> Lesion:
    """Hypovascular metastasis: hypoattenuating body, ill-defined enhancing rim, necrotic centre."""
    pdac = origin == "pdac"
    nc = rng.normal(38.0, 5.0)
    ven = rng.normal(44.0 if pdac else 49.0, 11.0)
    has_rim = rng.random() < (0.85 if pdac else 0.7)
    necrosis = 0.0
    if diameter > 20.0 and rng.random() < (0.35 if pdac else 0.65):
        necrosis = rng.uniform(0.3, 0.65)
    params = {
        "hu_nc": nc, "hu_arterial": nc + rng.uniform(5, 20), "hu_venous": ven,
        "hu_delayed": ven + rng.uniform(0, 10),
        "rim_arterial": rng.uniform(20, 50) * has_rim, "rim_venous": rng.uniform(5, 38) * has_rim,
        "rim_delayed": rng.uniform(0, 15) * has_rim,
        "rim_width": rng.uniform(0.1, 0.2) if pdac else rng.uniform(0.15, 0.3),
        "necrosis_frac": necrosis, "hu_necrosis": rng.normal(24.0, 5.0),
        "margin_mm": rng.uniform(1.0, 2.5), "texture_sd": rng.uniform(9, 20) if pdac else
        rng.uniform(7, 20), "texture_corr_mm": rng.uniform(0.7, 1.2) if pdac else
        rng.uniform(1.5, 2.6),
    }
    subtype = ("rim" if has_rim else "plain") + ("-necrotic" if necrosis else "")
    return Lesion(label, "metastasis", subtype, params=params,
                  **_shape(rng, diameter, 0.12))


def make_hemangioma(rng: np.random.Generator, diameter: float, label: str = "hemangioma",
                    ) -> Lesion:
    """Hemangioma: blood-pool peripheral nodules, centripetal fill-in; flash or slow subtypes."""
    p_flash = 0.25 if diameter <= 15 else 0.03
    p_slow = 0.55 + 0.2 * (diameter > 30)
    u = rng.random()
    subtype = "flash" if u < p_flash else "slow" if u < p_flash + p_slow else "typical"
    nc = rng.normal(41.0, 4.0)
    if subtype == "flash":
        fills = (1.0, 1.0, 1.0)
        nodules = 0
    elif subtype == "slow":
        fv = rng.uniform(0.0, 0.12)
        fills = (0.0, fv, fv + rng.uniform(0.05, 0.2))
        nodules = int(rng.integers(0, 3))
    else:
        fv = rng.uniform(0.05, 0.45)
        fills = (rng.uniform(0.0, 0.08), fv, min(1.0, fv + rng.uniform(0.15, 0.4)))
        nodules = int(rng.integers(3, 9))
    params = {
        "hu_nc": nc, "hu_arterial": nc + rng.uniform(0, 6),
        "hu_venous": nc + (rng.uniform(5, 22) if subtype == "slow" else rng.uniform(0, 10)),
        "hu_delayed": nc + rng.uniform(5, 25), "fill_arterial": fills[0],
        "fill_venous": fills[1], "fill_delayed": fills[2], "fill_level": rng.uniform(0.5, 0.9),
        "n_nodules": float(nodules), "nodule_size": rng.uniform(0.12, 0.25),
        "nodule_level": rng.uniform(0.85, 1.0), "margin_mm": rng.uniform(0.3, 0.6),
        "texture_sd": rng.uniform(3, 6), "texture_corr_mm": rng.uniform(1.0, 2.0),
    }
    return Lesion(label, "hemangioma", subtype, params=params, **_shape(rng, diameter, 0.08))


def make_cyst(rng: np.random.Generator, diameter: float, label: str = "cyst") -> Lesion:
    """Simple cyst: water attenuation, sharp margin, no enhancement."""
    hu = rng.normal(8.0, 5.0)
    params = {"hu_nc": hu, "hu_arterial": hu, "hu_venous": hu + rng.uniform(0, 3),
              "hu_delayed": hu + rng.uniform(0, 3), "margin_mm": rng.uniform(0.2, 0.4),
              "texture_sd": rng.uniform(1, 3), "texture_corr_mm": 1.5}
    return Lesion(label, "cyst", "simple", params=params, **_shape(rng, diameter, 0.02))


def make_hcc(rng: np.random.Generator, diameter: float, label: str = "hcc") -> Lesion:
    """HCC: arterial-phase hyperenhancement, portal-venous/delayed washout, enhancing capsule."""
    nc = rng.normal(40.0, 5.0)
    capsule = rng.random() < 0.6
    params = {
        "hu_nc": nc, "hu_arterial": rng.normal(108.0, 14.0), "hu_venous": rng.normal(84.0, 9.0),
        "hu_delayed": rng.normal(72.0, 8.0), "rim_arterial": 0.0,
        "rim_venous": rng.uniform(10, 30) * capsule, "rim_delayed": rng.uniform(15, 35) * capsule,
        "rim_width": 0.08, "necrosis_frac": rng.uniform(0.2, 0.5) * (diameter > 30 and
                                                                    rng.random() < 0.4),
        "hu_necrosis": rng.normal(28.0, 5.0), "margin_mm": rng.uniform(0.5, 1.0),
        "texture_sd": rng.uniform(9, 15), "texture_corr_mm": rng.uniform(2.0, 3.5),
    }
    return Lesion(label, "enhancing", "capsule" if capsule else "plain", params=params,
                  **_shape(rng, diameter, 0.06))


def make_fnh(rng: np.random.Generator, diameter: float, label: str = "fnh") -> Lesion:
    """FNH: intense homogeneous arterial enhancement, iso later, late-enhancing central scar."""
    nc = rng.normal(50.0, 4.0)
    scar = diameter > 20 and rng.random() < 0.6
    params = {
        "hu_nc": nc, "hu_arterial": rng.normal(130.0, 14.0), "hu_venous": rng.normal(108.0, 7.0),
        "hu_delayed": rng.normal(93.0, 6.0), "scar_frac": rng.uniform(0.15, 0.25) * scar,
        "scar_nc": 35.0, "scar_arterial": 45.0, "scar_venous": 75.0, "scar_delayed": 100.0,
        "margin_mm": rng.uniform(0.4, 0.8), "texture_sd": rng.uniform(3, 6),
        "texture_corr_mm": 2.0,
    }
    return Lesion(label, "fnh", "scar" if scar else "plain", params=params,
                  **_shape(rng, diameter, 0.1))


def make_icc(rng: np.random.Generator, diameter: float, label: str = "icc") -> Lesion:
    """Intrahepatic cholangiocarcinoma: arterial rim, progressive delayed central enhancement."""
    nc = rng.normal(40.0, 5.0)
    params = {
        "hu_nc": nc, "hu_arterial": nc + rng.uniform(3, 12), "hu_venous": rng.normal(62.0, 8.0),
        "hu_delayed": rng.normal(96.0, 8.0), "rim_arterial": rng.uniform(25, 45),
        "rim_venous": rng.uniform(5, 20), "rim_delayed": rng.uniform(0, 8),
        "rim_width": rng.uniform(0.15, 0.3), "necrosis_frac": 0.0, "hu_necrosis": 30.0,
        "margin_mm": rng.uniform(1.5, 3.0), "texture_sd": rng.uniform(6, 11),
        "texture_corr_mm": rng.uniform(1.5, 2.5),
    }
    return Lesion(label, "metastasis", "delayed-fill", params=params, **_shape(rng, diameter, 0.15))


def make_calcification(rng: np.random.Generator, diameter: float,
                       label: str = "calcification") -> Lesion:
    """Calcified granuloma: very dense at all phases, sharp margin."""
    hu = float(np.clip(rng.normal(480.0, 150.0), 220.0, 900.0))
    params = {"hu_nc": hu, "hu_arterial": hu, "hu_venous": hu, "hu_delayed": hu,
              "margin_mm": 0.2, "texture_sd": rng.uniform(10, 30), "texture_corr_mm": 1.0}
    return Lesion(label, "cyst", "dense", params=params, **_shape(rng, diameter, 0.1))


def make_other(rng: np.random.Generator, diameter: float, label: str = "other") -> Lesion:
    """Other (abscess-like): fluid centre with a thick enhancing wall (a double target)."""
    fluid = rng.normal(22.0, 6.0)
    params = {
        "hu_nc": fluid, "hu_arterial": fluid, "hu_venous": fluid + 2.0, "hu_delayed": fluid + 3.0,
        "rim_arterial": rng.uniform(50, 80), "rim_venous": rng.uniform(45, 70),
        "rim_delayed": rng.uniform(35, 55), "rim_width": rng.uniform(0.2, 0.35),
        "necrosis_frac": 0.0, "hu_necrosis": fluid, "margin_mm": rng.uniform(1.0, 2.0),
        "texture_sd": rng.uniform(4, 8), "texture_corr_mm": 1.5,
    }
    return Lesion(label, "metastasis", "abscess", params=params, **_shape(rng, diameter, 0.1))


def _enh(nc: float, value: float, factor: float) -> float:
    """Scale the enhancement of ``value`` over its non-contrast ``nc`` by ``factor``."""
    return nc + factor * (value - nc)


@dataclass
class RenderContext:
    """What a lesion needs from the patient and phase: enhancement and blood-pool attenuation."""

    phase: int
    enhancement: float
    blood_hu: float
    offset: float


def lesion_values(les: Lesion, rho: np.ndarray, tex: np.ndarray, nod: np.ndarray,
                  ctx: RenderContext) -> np.ndarray:
    """Attenuation (HU) inside a lesion for one phase from its normalised radius and texture."""
    p = les.params
    ph = PHASES[ctx.phase]
    e = ctx.enhancement
    nc = p["hu_nc"]
    body = _enh(nc, p[f"hu_{ph}"], e)
    if les.model == "metastasis":
        val = np.full(rho.shape, body, dtype=np.float32)
        rim = p.get(f"rim_{ph}", 0.0) * e
        if rim:
            width = p["rim_width"]
            val += rim * np.clip((rho - (1.0 - 1.6 * width)) / width, 0.0, 1.0)
        if p["necrosis_frac"] > 0:
            soft = np.clip((p["necrosis_frac"] + 0.12 * tex - rho) / 0.1 + 0.5, 0.0, 1.0)
            val += (p["hu_necrosis"] - val) * soft
    elif les.model == "enhancing":
        val = np.full(rho.shape, body, dtype=np.float32)
        cap = p.get(f"rim_{ph}", 0.0) * e
        if cap:
            val += cap * np.exp(-(((rho - 0.96) / p["rim_width"]) ** 2))
        if p["necrosis_frac"] > 0:
            val[rho + 0.1 * tex < p["necrosis_frac"]] = p["hu_necrosis"]
    elif les.model == "hemangioma":
        centre = body
        blood = nc + (ctx.blood_hu - ctx.offset - nc) * p["nodule_level"]
        filled = centre + (blood - centre) * p["fill_level"]
        fill = p[f"fill_{ph}"] if ph != "nc" else 0.0
        front = np.clip((rho + 0.08 * tex - (1.0 - fill)) / 0.06, 0.0, 1.0) if fill < 1 else (
            np.ones_like(rho))
        val = (centre + (filled - centre) * front).astype(np.float32)
        if ph != "nc":
            val = np.where(nod > 0, blood, val).astype(np.float32)
    elif les.model == "fnh":
        val = np.full(rho.shape, body, dtype=np.float32)
        if p["scar_frac"] > 0:
            scar = _enh(p["scar_nc"], p[f"scar_{ph}"], e)
            val = np.where(rho + 0.15 * np.abs(tex) < p["scar_frac"], scar, val).astype(
                np.float32)
    else:  # "cyst": homogeneous, no enhancement
        val = np.full(rho.shape, body, dtype=np.float32)
    return val + p["texture_sd"] * tex + ctx.offset


def render_lesions(volumes: dict[int, np.ndarray], instance: np.ndarray, grid: Grid,
                   lesions: list[Lesion], contexts: dict[int, RenderContext],
                   rng: np.random.Generator) -> None:
    """Paint lesions into the per-phase HU volumes and their ids (1..n) into ``instance``."""
    for idx, les in enumerate(lesions, start=1):
        reach = les.reach_mm()
        sl = grid.block(les.centre - reach, les.centre + reach)
        if sl is None:
            continue
        x, y, z = grid.coords(sl)
        c = [float(v) for v in les.centre]
        dx, dy, dz = x - c[0], y - c[1], z - c[2]
        ca, sa = float(np.cos(les.angle)), float(np.sin(les.angle))
        shape = (z.shape[0], y.shape[1], x.shape[2])
        ax = [float(les.radius * a) for a in les.axes]
        qx = np.broadcast_to((ca * dx + sa * dy) / ax[0], shape)
        qy = np.broadcast_to((-sa * dx + ca * dy) / ax[1], shape)
        qz = np.broadcast_to(dz / ax[2], shape)
        rho = np.sqrt(qx**2 + qy**2 + qz**2).astype(np.float32)
        safe = np.maximum(rho, 1e-6)
        lob = np.ones_like(rho)
        for v, m, amp in les.lobes:
            cos_t = (qx * float(v[0]) + qy * float(v[1]) + qz * float(v[2])) / safe
            cheb = 2 * cos_t**2 - 1 if m == 2 else 4 * cos_t**3 - 3 * cos_t if m == 3 else (
                8 * cos_t**4 - 8 * cos_t**2 + 1)
            lob += amp * cheb
        rho_eff = rho / lob
        corr = les.params["texture_corr_mm"]
        white = rng.standard_normal(rho.shape, dtype=np.float32)
        sig = tuple(corr / grid.spacing[a] for a in (2, 1, 0))
        tex = ndimage.gaussian_filter(white, sig, truncate=2.5)
        tex /= max(float(tex.std()), 1e-6)
        nod = _nodules(les, qx, qy, qz, rng)
        margin = les.params["margin_mm"] / les.radius
        alpha = 1.0 / (1.0 + np.exp(-np.clip((1.0 - rho_eff) / margin, -30, 30)))
        for phase, vol in volumes.items():
            block = vol[sl]
            val = lesion_values(les, rho_eff, tex, nod, contexts[phase])
            block += alpha.astype(np.float32) * (val - block)
        inside = rho_eff <= 1.0
        if not inside.any():
            k = np.unravel_index(int(np.argmin(rho_eff)), rho_eff.shape)
            inside[k] = True
        instance[sl][inside] = idx


def _nodules(les: Lesion, qx: np.ndarray, qy: np.ndarray, qz: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Indicator (0/1) of discontinuous peripheral enhancing nodules of a hemangioma."""
    out = np.zeros(qx.shape, dtype=np.uint8)
    n = int(les.params.get("n_nodules", 0))
    size = les.params.get("nodule_size", 0.2)
    for _ in range(n):
        v = rng.normal(size=3)
        v = 0.86 * v / np.linalg.norm(v)
        r = size * rng.uniform(0.7, 1.3)
        out |= ((qx - v[0]) ** 2 + (qy - v[1]) ** 2 + (qz - v[2]) ** 2 < r * r)
    return out


MAKERS = {
    "metastasis": make_metastasis, "hemangioma": make_hemangioma, "cyst": make_cyst,
    "hcc": make_hcc, "fnh": make_fnh, "icc": make_icc, "calcification": make_calcification,
    "other": make_other,
}
