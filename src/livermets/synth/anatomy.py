"""Abdominal CT phantom: body wall, fat, spine, ribs, lungs, liver and vessels, organs, colon."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from livermets.synth.grid import Grid
from livermets.synth.shapes import (
    paint_ellipsoid,
    paint_tube,
    segment_distance,
    smooth_field_on_block,
    smooth_min,
)


class T(IntEnum):
    """Tissue labels of the phantom."""

    AIR = 0
    SUBCUT_FAT = 1
    VISC_FAT = 2
    MUSCLE = 3
    BONE = 4
    MARROW = 5
    DISC = 6
    CSF = 7
    LIVER = 8
    PORTAL = 9
    HEPATIC_V = 10
    IVC = 11
    AORTA = 12
    KIDNEY = 13
    SINUS_FAT = 14
    SPLEEN = 15
    PANCREAS = 16
    GI_WALL = 17
    FLUID = 18
    GAS = 19
    STOOL = 20
    GALLBLADDER = 21
    LUNG = 22
    HEART = 23
    TUMOUR = 24


# Attenuation (HU) per phase (nc, arterial, venous, delayed) for a standard patient and timing;
# values from typical multiphase liver CT (e.g. liver ~55/75/105/90 HU, aorta ~300 HU arterial,
# ~165 HU portal-venous; Bae 2010, Radiology 256:32-61).
TISSUE_HU: dict[T, tuple[float, float, float, float]] = {
    T.AIR: (-1000, -1000, -1000, -1000),
    T.SUBCUT_FAT: (-105, -105, -104, -104),
    T.VISC_FAT: (-95, -95, -93, -93),
    T.MUSCLE: (50, 58, 62, 60),
    T.BONE: (750, 750, 750, 750),
    T.MARROW: (220, 225, 235, 232),
    T.DISC: (80, 85, 90, 92),
    T.CSF: (8, 8, 8, 8),
    T.LIVER: (55, 72, 105, 92),
    T.PORTAL: (45, 125, 175, 135),
    T.HEPATIC_V: (45, 52, 160, 130),
    T.IVC: (45, 90, 150, 125),
    T.AORTA: (45, 300, 165, 125),
    T.KIDNEY: (35, 170, 165, 150),
    T.SINUS_FAT: (-80, -80, -78, -78),
    T.SPLEEN: (50, 125, 115, 100),
    T.PANCREAS: (45, 115, 95, 80),
    T.GI_WALL: (45, 100, 90, 80),
    T.FLUID: (12, 12, 13, 14),
    T.GAS: (-950, -950, -950, -950),
    T.STOOL: (15, 15, 16, 16),
    T.GALLBLADDER: (10, 10, 10, 11),
    T.LUNG: (-860, -860, -855, -855),
    T.HEART: (45, 250, 160, 125),
    T.TUMOUR: (42, 85, 80, 75),
}

# Fine tissue texture (SD in HU of a smooth random field added to the tissue).
TISSUE_TEXTURE: dict[T, float] = {
    T.SUBCUT_FAT: 6.0, T.VISC_FAT: 10.0, T.MUSCLE: 5.0, T.MARROW: 45.0, T.LIVER: 4.0,
    T.SPLEEN: 5.0, T.KIDNEY: 6.0, T.STOOL: 120.0, T.LUNG: 25.0, T.PANCREAS: 8.0,
}

LIVER_LABELS: tuple[int, ...] = (int(T.LIVER), int(T.PORTAL), int(T.HEPATIC_V))

N_TISSUES = len(T)


def hu_table(phase_index: int, enhancement: float, offset: float) -> np.ndarray:
    """Lookup table label -> HU for one phase with a patient/centre enhancement factor."""
    lut = np.zeros(N_TISSUES, dtype=np.float32)
    for tissue, values in TISSUE_HU.items():
        nc = values[0]
        lut[int(tissue)] = nc + enhancement * (values[phase_index] - nc) + offset
    lut[int(T.AIR)] = -1000.0
    return lut


def texture_table() -> np.ndarray:
    """Lookup table label -> texture SD (HU)."""
    lut = np.zeros(N_TISSUES, dtype=np.float32)
    for tissue, sd in TISSUE_TEXTURE.items():
        lut[int(tissue)] = sd
    return lut


@dataclass
class Liver:
    """The liver as a soft union of three lobes plus a low-frequency surface perturbation."""

    lobes: list[tuple[np.ndarray, np.ndarray, float]]
    waves: list[tuple[np.ndarray, float, float]]
    inferior: tuple[float, float]

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Implicit field: < 1 inside the liver."""
        from livermets.synth.shapes import ellipsoid_r2

        f = None
        for c, semi, angle in self.lobes:
            r = np.sqrt(ellipsoid_r2(x, y, z, c, semi, angle))
            f = r if f is None else smooth_min(f, r, 0.25)
        for k, amp, phase in self.waves:
            kx, ky, kz = (float(v) for v in k)
            f = f + amp * np.cos(kx * x + ky * y + kz * z + phase)
        # the inferior surface rises towards the left: only the right lobe reaches low
        z_inf = self.inferior[0] + self.inferior[1] * (x + 110.0)
        return smooth_min(-f, -(1.0 + (z_inf - z) / 40.0), 0.1) * -1.0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """A bounding box (mm) of the liver."""
        lo = np.min([c - s * 1.3 for c, s, _ in self.lobes], axis=0)
        hi = np.max([c + s * 1.3 for c, s, _ in self.lobes], axis=0)
        return lo, hi


@dataclass
class Abdomen:
    """Per-patient anatomical parameters of the phantom (all lengths in mm)."""

    body_a: float
    body_b: float
    fat_mm: float
    wall_mm: float
    liver: Liver
    portal: list[tuple[np.ndarray, np.ndarray, float, float]]
    hepatic: list[tuple[np.ndarray, np.ndarray, float, float]]
    colon: list[np.ndarray]
    colon_radius: float
    has_gallbladder: bool
    jitter: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Abdomen:
        """Draw one patient's anatomy."""
        s = rng.normal(1.0, 0.06)
        sl = rng.normal(1.0, 0.07)
        shift = np.array([rng.normal(0, 4), rng.normal(0, 4), rng.normal(0, 6)])
        lobes = [
            (np.array([-82.0, 8.0, 12.0]) + shift, np.array([68.0, 76.0, 80.0]) * sl, 0.0),
            (np.array([0.0, -42.0, 30.0]) + shift + rng.normal(0, 4, 3),
             np.array([rng.uniform(50, 75), 32.0, 38.0]) * sl, rng.normal(0.2, 0.08)),
            (np.array([-22.0, 20.0, 15.0]) + shift, np.array([22.0, 20.0, 38.0]) * sl, 0.0),
        ]
        waves = []
        for _ in range(4):
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            waves.append((direction * 2 * np.pi / rng.uniform(60, 140),
                          float(rng.uniform(0.02, 0.06)), float(rng.uniform(0, 2 * np.pi))))
        liver = Liver(lobes, waves, (float(rng.uniform(-80, -60)), float(rng.uniform(0.35, 0.55))))

        def j(scale: float = 6.0) -> np.ndarray:
            return rng.normal(0, scale, 3)

        hilum = np.array([-35.0, 10.0, -12.0]) + shift + j(3)
        confluence = np.array([2.0, 28.0, -38.0]) + shift
        right = np.array([-75.0, 8.0, -6.0]) + shift + j()
        left = np.array([2.0, -22.0, 14.0]) + shift + j()
        portal = [
            (confluence, hilum, 7.0, 6.5), (hilum, right, 6.0, 5.0), (hilum, left, 5.5, 4.5),
            (right, np.array([-95.0, -38.0, 15.0]) + shift + j(), 4.0, 2.5),
            (right, np.array([-105.0, 42.0, -25.0]) + shift + j(), 4.0, 2.5),
            (left, np.array([38.0, -48.0, 32.0]) + shift + j(), 3.5, 2.2),
            (left, np.array([-10.0, -60.0, -5.0]) + shift + j(), 3.0, 2.0),
        ]
        for _ in range(6):
            parent = portal[rng.integers(1, len(portal))]
            start = parent[0] + rng.uniform(0.3, 1.0) * (parent[1] - parent[0])
            portal.append((start, start + rng.normal(0, 25, 3), 2.2, 1.2))
        ivc_top = np.array([-22.0, 32.0, 68.0]) + shift
        hepatic = [
            (ivc_top, np.array([-118.0, 18.0, -5.0]) + shift + j(), 5.5, 2.5),
            (ivc_top, np.array([-55.0, -48.0, -18.0]) + shift + j(), 5.0, 2.5),
            (ivc_top, np.array([22.0, -42.0, 28.0]) + shift + j(), 4.5, 2.2),
        ]
        colon = [
            np.array([-92.0, 10.0, -260.0]), np.array([-95.0, 5.0, -110.0]),
            np.array([-82.0, -20.0, -78.0]) + j(4), np.array([-40.0, -70.0, -92.0]) + j(5),
            np.array([45.0, -65.0, -85.0]) + j(5), np.array([88.0, 5.0, -30.0]) + j(4),
            np.array([95.0, 15.0, -120.0]), np.array([92.0, 20.0, -220.0]),
            np.array([40.0, 0.0, -265.0]),
        ]
        return cls(
            body_a=165.0 * s * rng.normal(1.0, 0.03), body_b=118.0 * s * rng.normal(1.0, 0.03),
            fat_mm=float(rng.uniform(8, 38)), wall_mm=float(rng.uniform(8, 13)), liver=liver,
            portal=portal, hepatic=hepatic, colon=colon, colon_radius=float(rng.uniform(18, 25)),
            has_gallbladder=bool(rng.random() < 0.85),
            jitter={k: j(5) for k in
                    ("kidney_r", "kidney_l", "spleen", "stomach", "gb", "pancreas")},
        )


def _superellipse(x: np.ndarray, y: np.ndarray, a: float, b: float, yc: float = 5.0) -> np.ndarray:
    """Whether points lie inside the body's (super-elliptic) cross-section."""
    return (np.abs(x / a) ** 2.3 + np.abs((y - yc) / b) ** 2.3) < 1.0


def render_labels(anat: Abdomen, grid: Grid) -> np.ndarray:
    """Paint the tissue label volume (z, y, x) of one patient on ``grid``."""
    labels = np.zeros(grid.shape, dtype=np.uint8)
    x, y, z = grid.coords()
    x2, y2 = x[0], y[0]
    a, b = anat.body_a, anat.body_b
    body = _superellipse(x2, y2, a, b)
    inner = _superellipse(x2, y2, a - anat.fat_mm, b - anat.fat_mm * 0.8)
    cavity = _superellipse(x2, y2, a - anat.fat_mm - anat.wall_mm,
                           b - anat.fat_mm * 0.8 - anat.wall_mm)
    cavity &= ~(((x2 / 70.0) ** 2 + ((y2 - 105.0) / 40.0) ** 2) < 1.0)  # back muscles
    plane = np.where(cavity, T.VISC_FAT, np.where(inner, T.MUSCLE, np.where(body, T.SUBCUT_FAT, 0)))
    labels[:] = plane.astype(np.uint8)[None]
    # ribs: obliquely running bone bands within the body wall above the costal margin
    wall = _superellipse(x2, y2, a - anat.fat_mm - 1.5, b - anat.fat_mm * 0.8 - 1.5) & ~(
        _superellipse(x2, y2, a - anat.fat_mm - 9.5, b - anat.fat_mm * 0.8 - 9.5))
    wall &= (y2 < 60.0) & ~((np.abs(x2) < 45.0) & (y2 < 0.0))
    rib_phase = np.mod(z + 0.9 * y + 0.3 * np.abs(x), 30.0) < 9.0
    ribs = wall[None] & rib_phase & (z > -60.0 + 0.4 * y)
    labels[ribs] = T.BONE
    # lung bases above the diaphragm, heart at the top
    lung = cavity[None] & (z > 38.0 - 0.2 * y)
    labels[lung & (labels == T.VISC_FAT)] = T.LUNG
    paint_ellipsoid(labels, grid, np.array([25.0, -40.0, 125.0]), np.array([70.0, 55.0, 55.0]),
                    T.HEART)
    _paint_spine(labels, grid, x, y, z)
    zlo, zhi = grid.axis_mm(2)[0] - 5, grid.axis_mm(2)[-1] + 5
    paint_tube(labels, grid, np.array([20.0, 42.0, zlo]), np.array([20.0, 42.0, zhi]), 11.5, 11.5,
               T.AORTA)
    paint_tube(labels, grid, np.array([-22.0, 36.0, zlo]), np.array([-22.0, 32.0, 70.0]), 12.0,
               12.0, T.IVC)
    # kidneys, spleen, pancreas, stomach, gallbladder
    jit = anat.jitter
    for key, c in (("kidney_r", np.array([-68.0, 64.0, -72.0])),
                   ("kidney_l", np.array([70.0, 64.0, -58.0]))):
        centre = c + jit[key]
        paint_ellipsoid(labels, grid, centre, np.array([28.0, 24.0, 55.0]), T.KIDNEY,
                        angle=0.5 if c[0] < 0 else -0.5)
        paint_ellipsoid(labels, grid, centre + np.array([np.sign(-c[0]) * 10.0, -4.0, 0.0]),
                        np.array([10.0, 9.0, 28.0]), T.SINUS_FAT, onto=(T.KIDNEY,))
    paint_ellipsoid(labels, grid, np.array([100.0, 40.0, 22.0]) + jit["spleen"],
                    np.array([42.0, 28.0, 55.0]), T.SPLEEN, angle=-0.6)
    pan = jit["pancreas"]
    paint_tube(labels, grid, np.array([-18.0, 12.0, -40.0]) + pan,
               np.array([78.0, 38.0, -18.0]) + pan, 14.0, 9.0, T.PANCREAS, onto=(T.VISC_FAT,))
    st = np.array([58.0, -22.0, 38.0]) + jit["stomach"]
    paint_ellipsoid(labels, grid, st, np.array([46.0, 36.0, 48.0]), T.GI_WALL,
                    onto=(T.VISC_FAT, T.LUNG))
    paint_ellipsoid(labels, grid, st, np.array([41.0, 31.0, 43.0]), T.FLUID, onto=(T.GI_WALL,))
    sl = grid.block(st - 50, st + 50)
    if sl is not None:
        block = labels[sl]
        block[(block == T.FLUID) & (grid.coords(sl)[1] < st[1] - 12.0)] = T.GAS
    if anat.has_gallbladder:
        paint_ellipsoid(labels, grid, np.array([-52.0, -42.0, -42.0]) + jit["gb"],
                        np.array([15.0, 13.0, 34.0]), T.GALLBLADDER, angle=0.4)
    _paint_colon(labels, grid, anat)
    # liver (onto fat and lung only), diaphragm, intrahepatic vessels
    lo, hi = anat.liver.bounds()
    sl = grid.block(lo, hi)
    if sl is not None:
        f = smooth_field_on_block(anat.liver.field, grid, sl)
        block = labels[sl]
        cav = np.broadcast_to(cavity[sl[1], sl[2]][None], block.shape)
        soft = (block == T.VISC_FAT) | (block == T.LUNG)
        block[(f < 1.08) & (f >= 1.0) & (block == T.LUNG)] = T.MUSCLE
        block[(f < 1.0) & soft & cav] = T.LIVER
    onto_liver = (T.LIVER,)
    for p0, p1, r0, r1 in anat.portal:
        paint_tube(labels, grid, p0, p1, r0, r1, T.PORTAL, onto=onto_liver if r0 < 6.5 else
                   (T.LIVER, T.VISC_FAT, T.PANCREAS))
    for p0, p1, r0, r1 in anat.hepatic:
        paint_tube(labels, grid, p0, p1, r0, r1, T.HEPATIC_V, onto=onto_liver)
    return labels


def _paint_spine(labels: np.ndarray, grid: Grid, x: np.ndarray, y: np.ndarray,
                 z: np.ndarray) -> None:
    """Vertebral bodies with discs, spinal canal, posterior elements and psoas muscles."""
    x2, y2 = x[0], y[0]
    vb = ((x2 / 22.0) ** 2 + ((y2 - 72.0) / 18.0) ** 2) < 1.0
    vb_in = ((x2 / 19.0) ** 2 + ((y2 - 72.0) / 15.0) ** 2) < 1.0
    canal = ((x2 / 9.0) ** 2 + ((y2 - 102.0) / 8.0) ** 2) < 1.0
    post = ((np.abs(x2) < 30.0) & (y2 > 92.0) & (y2 < 108.0)) | (
        (np.abs(x2) < 5.0) & (y2 > 92.0) & (y2 < 128.0))
    disc = np.mod(z - 7.0, 32.0) < 7.0
    shape = labels.shape
    vb3 = np.broadcast_to(vb[None], shape)
    labels[vb3 & ~disc] = T.BONE
    labels[np.broadcast_to(vb_in[None], shape) & ~disc] = T.MARROW
    labels[vb3 & disc] = T.DISC
    labels[np.broadcast_to((post & ~canal)[None], shape)] = T.BONE
    labels[np.broadcast_to(canal[None], shape)] = T.CSF
    psoas_r = np.clip((-z - 30.0) / 6.0, 0.0, 22.0)
    for side in (-1.0, 1.0):
        inside = ((x - side * 38.0) ** 2 + (y - 68.0) ** 2) < psoas_r**2
        labels[inside & (labels == T.VISC_FAT)] = T.MUSCLE


def _paint_colon(labels: np.ndarray, grid: Grid, anat: Abdomen) -> None:
    """The colon as a chain of tubes with a wall, mottled stool and anterior gas."""
    r = anat.colon_radius
    for p0, p1 in zip(anat.colon[:-1], anat.colon[1:], strict=True):
        sl = grid.block(np.minimum(p0, p1) - r, np.maximum(p0, p1) + r)
        if sl is None:
            continue
        x, y, z = grid.coords(sl)
        dist, t = segment_distance(x, y, z, p0, p1)
        block = labels[sl]
        soft = np.isin(block, (T.VISC_FAT, T.LUNG))
        block[(dist < r) & soft] = T.GI_WALL
        lumen = (dist < r - 3.0) & (block == T.GI_WALL)
        centre_y = p0[1] + t * (p1[1] - p0[1])
        block[lumen] = T.STOOL
        block[lumen & (y < centre_y - 0.35 * r)] = T.GAS


def colon_point(anat: Abdomen, where: float) -> tuple[np.ndarray, np.ndarray]:
    """A point on the colon centreline (0 = caecum, 1 = sigmoid) and the local direction."""
    pts = anat.colon
    lengths = np.array([np.linalg.norm(b - a) for a, b in itertools.pairwise(pts)])
    target = where * lengths.sum()
    i = int(np.searchsorted(np.cumsum(lengths), target))
    i = min(i, len(lengths) - 1)
    before = lengths[:i].sum()
    t = (target - before) / lengths[i]
    d = (pts[i + 1] - pts[i]) / lengths[i]
    return pts[i] + t * (pts[i + 1] - pts[i]), d
