"""Batch augmentation on cached crops: zoom, shear, rotation, shift, flips, intensity jitter.

One affine_grid/grid_sample call per batch; MONAI's random transforms (per sample) do the same
7-28x slower on CPU (benchmarks/augment.py), so this one stays.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from livermets.deep.config import AugmentSettings


def augment_batch(x: torch.Tensor, settings: AugmentSettings,
                  generator: torch.Generator) -> torch.Tensor:
    """A randomly transformed copy of ``x`` [B, C, H, W] (2D) or [B, C, D, H, W] (in-plane)."""
    if not settings.enabled:
        return x
    b = x.shape[0]
    is3d = x.dim() == 5

    def uniform(scale: float) -> torch.Tensor:
        return (torch.rand(b, generator=generator) * 2.0 - 1.0) * scale

    angle = uniform(math.radians(settings.rotate_deg))
    zoom = 1.0 + uniform(settings.zoom)
    shear = uniform(settings.shear)
    tx, ty = uniform(settings.shift * 2.0), uniform(settings.shift * 2.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos, -sin + shear, tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, ty
    if settings.flip:
        flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
        theta[:, 0, :2] *= flip[:, None]
    gain = 1.0 + uniform(settings.intensity)
    bias = uniform(settings.intensity)
    if is3d:
        n, c, d, h, w = x.shape
        planes = x.permute(0, 2, 1, 3, 4).reshape(n * d, c, h, w)
        grid = F.affine_grid(theta.repeat_interleave(d, 0).to(x), list(planes.shape),
                             align_corners=False)
        out = F.grid_sample(planes, grid, padding_mode="zeros", align_corners=False)
        out = out.reshape(n, d, c, h, w).permute(0, 2, 1, 3, 4)
        shape = (b, 1, 1, 1, 1)
    else:
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
        shape = (b, 1, 1, 1)
    return (out * gain.view(shape).to(x) + bias.view(shape).to(x)).clamp(0.0, 1.0)
