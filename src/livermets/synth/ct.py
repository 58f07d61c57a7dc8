"""One patient's CT: anatomy, primary tumour, lesion placement, phases, blur and noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livermets.synth.anatomy import (
    LIVER_LABELS,
    Abdomen,
    T,
    colon_point,
    hu_table,
    render_labels,
    texture_table,
)
from livermets.synth.grid import Grid
from livermets.synth.lesions import Lesion, RenderContext, render_lesions
from livermets.synth.scanner import PHASES, CTProtocol, blur, ct_noise, smooth_field
from livermets.synth.shapes import segment_distance

_DIRECTIONS = np.array(
    [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
     if (i, j, k) != (0, 0, 0)],
    dtype=float,
)
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)


@dataclass
class PrimaryTumour:
    """An annular colon tumour: position along the colon (0 caecum .. 1 sigmoid) and appearance."""

    where: float
    length_mm: float
    thickness_mm: float
    hu_venous: float
    texture_sd: float


@dataclass
class CTResult:
    """The arrays of one CT patient, all on one grid."""

    images: dict[str, np.ndarray]
    liver: np.ndarray
    instance: np.ndarray
    primary: np.ndarray | None
    lesions: list[Lesion]
    noise_sd: float


def place_lesions(lesions: list[Lesion], labels: np.ndarray, grid: Grid,
                  rng: np.random.Generator) -> list[Lesion]:
    """Put lesions inside the liver without overlap, largest first; shrink or drop misfits."""
    zi, yi, xi = np.nonzero(labels == T.LIVER)
    if zi.size == 0:
        return []
    liver_set = np.isin(np.arange(256), LIVER_LABELS)
    placed: list[Lesion] = []
    for les in sorted(lesions, key=lambda item: -item.diameter_mm):
        for _attempt in range(5):
            ok = _try_place(les, zi, yi, xi, labels, liver_set, grid, placed, rng)
            if ok:
                placed.append(les)
                break
            les.diameter_mm *= 0.85
    return placed


def _try_place(les: Lesion, zi: np.ndarray, yi: np.ndarray, xi: np.ndarray, labels: np.ndarray,
               liver_set: np.ndarray, grid: Grid, placed: list[Lesion],
               rng: np.random.Generator) -> bool:
    """Try random liver positions for one lesion; set its centre and return True on success."""
    reach = les.radius * float(np.max(les.axes)) * 1.15 + 1.5
    probe = np.concatenate([_DIRECTIONS * reach, _DIRECTIONS * reach * 0.5])
    for _ in range(150):
        k = rng.integers(zi.size)
        centre = (np.asarray(grid.origin) + np.asarray(grid.spacing) * np.array(
            [xi[k], yi[k], zi[k]]) + rng.uniform(-0.5, 0.5, 3) * np.asarray(grid.spacing))
        pts = centre + probe
        if not grid.inside(pts).all():
            continue
        idx = grid.index_of(pts)
        if not liver_set[labels[idx[:, 0], idx[:, 1], idx[:, 2]]].all():
            continue
        if any(np.linalg.norm(o.centre - centre) < les.radius * 1.1 + o.radius * 1.1 + 2.0
               for o in placed):
            continue
        les.centre = centre
        return True
    return False


def _paint_primary(labels: np.ndarray, grid: Grid, anat: Abdomen,
                   tumour: PrimaryTumour) -> np.ndarray:
    """Thicken the colon wall into an annular tumour; return its mask."""
    centre, direction = colon_point(anat, tumour.where)
    half = 0.5 * tumour.length_mm * direction
    p0, p1 = centre - half, centre + half
    r_out = anat.colon_radius + 0.4 * tumour.thickness_mm
    r_in = max(anat.colon_radius - tumour.thickness_mm, 2.0)
    mask = np.zeros(labels.shape, dtype=bool)
    sl = grid.block(np.minimum(p0, p1) - r_out, np.maximum(p0, p1) + r_out)
    if sl is not None:
        x, y, z = grid.coords(sl)
        dist, t = segment_distance(x, y, z, p0, p1)
        ends = np.minimum(t, 1 - t) * tumour.length_mm
        ring = (dist < r_out) & (dist > r_in) & (ends > 2.0)
        ring &= np.isin(labels[sl], (T.GI_WALL, T.STOOL, T.GAS, T.VISC_FAT))
        labels[sl][ring] = T.TUMOUR
        mask[sl] = ring
    return mask


def render_ct(grid: Grid, protocol: CTProtocol, phases: tuple[str, ...], lesions: list[Lesion],
              rng: np.random.Generator, enhancement: float, liver_texture: float = 1.0,
              primary: PrimaryTumour | None = None) -> CTResult:
    """Render one patient's CT phases, liver mask, lesion instance map and primary mask."""
    anat = Abdomen.sample(rng)
    labels = render_labels(anat, grid)
    primary_mask = _paint_primary(labels, grid, anat, primary) if primary is not None else None
    placed = place_lesions(lesions, labels, grid, rng)
    tex = smooth_field(grid.shape, tuple(2.5 / grid.spacing[a] for a in (2, 1, 0)), rng)
    tex_lut = texture_table()
    tex_lut[int(T.LIVER)] *= liver_texture
    if primary is not None:
        tex_lut[int(T.TUMOUR)] = primary.texture_sd
    texture = tex_lut[labels] * tex
    volumes: dict[int, np.ndarray] = {}
    contexts: dict[int, RenderContext] = {}
    for name in phases:
        i = PHASES.index(name)
        factor = enhancement * protocol.timing[name]
        lut = hu_table(i, factor, protocol.hu_offset)
        if primary is not None:
            nominal = (42.0, primary.hu_venous + 5.0, primary.hu_venous, primary.hu_venous - 5.0)
            lut[int(T.TUMOUR)] = 42.0 + factor * (nominal[i] - 42.0) + protocol.hu_offset
        volumes[i] = lut[labels] + texture
        contexts[i] = RenderContext(i, factor, float(lut[int(T.AORTA)]), protocol.hu_offset)
    instance = np.zeros(grid.shape, dtype=np.uint16)
    render_lesions(volumes, instance, grid, placed, contexts, rng)
    noise_sd = protocol.noise_sd_hu * (anat.body_a / 165.0) ** 1.5
    sigma = (protocol.psf_sigma_mm, protocol.psf_sigma_mm, 0.45 * grid.spacing[2])
    grain = protocol.noise_grain_mm / grid.spacing[0]
    images = {}
    for i, vol in volumes.items():
        out = blur(vol, sigma, grid.spacing)
        out += ct_noise(grid.shape, noise_sd, grain, rng)
        images[PHASES[i]] = np.clip(np.rint(out), -1024, 3071).astype(np.int16)
    liver = (np.isin(labels, LIVER_LABELS) | (instance > 0)).astype(np.uint8)
    primary_u8 = primary_mask.astype(np.uint8) if primary_mask is not None else None
    return CTResult(images, liver, instance, primary_u8, placed, noise_sd)
