"""Implicit shapes evaluated on blocks of a grid: ellipsoids, tapered tubes, smooth unions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from livermets.synth.grid import Grid

Array = np.ndarray


def ellipsoid_r2(x: Array, y: Array, z: Array, c: Array, semi: Array, angle: float = 0.0) -> Array:
    """Normalised squared radius of an ellipsoid rotated by ``angle`` (rad) about z."""
    c, semi = [float(v) for v in c], [float(v) for v in semi]
    dx, dy, dz = x - c[0], y - c[1], z - c[2]
    if angle:
        ca, sa = float(np.cos(angle)), float(np.sin(angle))
        dx, dy = ca * dx + sa * dy, -sa * dx + ca * dy
    return (dx / semi[0]) ** 2 + (dy / semi[1]) ** 2 + (dz / semi[2]) ** 2


def segment_distance(x: Array, y: Array, z: Array, p0: Array, p1: Array) -> tuple[Array, Array]:
    """Distance (mm) to the segment p0-p1 and the position 0..1 of the closest point."""
    d = [float(v) for v in np.asarray(p1) - np.asarray(p0)]
    p0 = [float(v) for v in p0]
    length2 = (d[0] ** 2 + d[1] ** 2 + d[2] ** 2) or 1e-6
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / length2
    t = np.clip(t, 0.0, 1.0)
    dist2 = (x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2
    return np.sqrt(dist2), t


def smooth_min(a: Array, b: Array, k: float) -> Array:
    """Smooth minimum of two implicit fields (a soft union with blending width ``k``)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def paint_ellipsoid(labels: Array, grid: Grid, c: Array, semi: Array, value: int,
                    angle: float = 0.0, onto: tuple[int, ...] | None = None) -> None:
    """Set ``labels`` to ``value`` inside an ellipsoid (optionally only over labels ``onto``)."""
    reach = float(np.max(semi))
    sl = grid.block(c - reach, c + reach)
    if sl is None:
        return
    x, y, z = grid.coords(sl)
    inside = ellipsoid_r2(x, y, z, c, semi, angle) < 1.0
    _assign(labels, sl, inside, value, onto)


def paint_tube(labels: Array, grid: Grid, p0: Array, p1: Array, r0: float, r1: float,
               value: int, onto: tuple[int, ...] | None = None) -> None:
    """Set ``labels`` to ``value`` inside a tapered tube from p0 (radius r0) to p1 (radius r1)."""
    reach = max(r0, r1)
    sl = grid.block(np.minimum(p0, p1) - reach, np.maximum(p0, p1) + reach)
    if sl is None:
        return
    x, y, z = grid.coords(sl)
    dist, t = segment_distance(x, y, z, p0, p1)
    inside = dist < r0 + (r1 - r0) * t
    _assign(labels, sl, inside, value, onto)


def _assign(labels: Array, sl: tuple[slice, slice, slice], inside: Array, value: int,
            onto: tuple[int, ...] | None) -> None:
    """Write ``value`` into the block where ``inside`` (and the current label is in ``onto``)."""
    block = labels[sl]
    inside = np.broadcast_to(inside, block.shape)
    if onto is not None:
        inside = inside & np.isin(block, onto)
    block[inside] = value


def smooth_field_on_block(fn: Callable[[Array, Array, Array], Array], grid: Grid,
                          sl: tuple[slice, slice, slice], factor: int = 4) -> Array:
    """A smooth field ``fn(x, y, z)`` sampled every ``factor`` voxels in-plane, interpolated."""
    x, y, z = grid.coords(sl)
    nx, ny = x.shape[2], y.shape[1]
    mx, my = -(-(nx - 1) // factor), -(-(ny - 1) // factor)
    xs = x[0, 0, 0] + grid.spacing[0] * factor * np.arange(mx + 1, dtype=np.float32)
    ys = y[0, 0, 0] + grid.spacing[1] * factor * np.arange(my + 1, dtype=np.float32)
    coarse = fn(xs[None, None, :], ys[None, :, None], z).astype(np.float32)
    fine = _upsample_linear(_upsample_linear(coarse, 2, factor), 1, factor)
    return fine[:, :ny, :nx]


def _upsample_linear(a: Array, axis: int, factor: int) -> Array:
    """Linear interpolation by an integer factor along one axis (samples kept exactly)."""
    a = np.moveaxis(a, axis, -1)
    w = (np.arange(factor, dtype=np.float32) / factor)
    left, right = a[..., :-1, None], a[..., 1:, None]
    inner = (left + (right - left) * w).reshape(*a.shape[:-1], -1)
    out = np.concatenate([inner, a[..., -1:]], axis=-1)
    return np.moveaxis(out, -1, axis)
