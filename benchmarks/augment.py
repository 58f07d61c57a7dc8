"""Crop augmentation: livermets' batched affine (one affine_grid/grid_sample call per batch)
against the same augmentation from MONAI's per-sample random transforms (RandAffine, RandFlip,
RandScaleIntensity, RandShiftIntensity). Median of 7 runs per batch shape; nothing is asserted.
Usage: python benchmarks/augment.py"""

from __future__ import annotations

import math
import statistics
import time

import torch

from livermets.deep.augment import augment_batch
from livermets.deep.config import AugmentSettings


def monai_augment(x: torch.Tensor, settings: AugmentSettings, seed: int) -> torch.Tensor:
    """The same augmentation with MONAI's transforms, one crop at a time."""
    from monai.transforms import (
        Compose,
        RandAffine,
        RandFlip,
        RandScaleIntensity,
        RandShiftIntensity,
    )

    h, w = x.shape[-2:]
    transform = Compose([
        RandAffine(prob=1.0, rotate_range=(math.radians(settings.rotate_deg),),
                   shear_range=(settings.shear, settings.shear),
                   translate_range=(settings.shift * h, settings.shift * w),
                   scale_range=(settings.zoom, settings.zoom), padding_mode="zeros"),
        RandFlip(prob=0.5, spatial_axis=1),
        RandScaleIntensity(factors=settings.intensity, prob=1.0),
        RandShiftIntensity(offsets=settings.intensity, prob=1.0)])
    transform.set_random_state(seed)
    out = torch.empty_like(x)
    for i, crop in enumerate(x):
        planes = crop.reshape(-1, h, w)  # slices of a 3D crop as channels: one in-plane affine
        out[i] = torch.as_tensor(transform(planes)).reshape(crop.shape)
    return out.clamp(0.0, 1.0)


def _median_ms(fn, runs: int = 7) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    """Print the table."""
    torch.set_num_threads(1)
    settings = AugmentSettings()
    print("| batch shape | livermets batched ms | MONAI per-sample ms | ratio |")
    print("|---|---|---|---|")
    for shape in [(32, 1, 64, 64), (32, 3, 64, 64), (16, 1, 8, 48, 48)]:
        x = torch.rand(shape)
        generator = torch.Generator().manual_seed(0)
        ours = _median_ms(lambda: augment_batch(x, settings, generator))  # noqa: B023
        theirs = _median_ms(lambda: monai_augment(x, settings, 0))  # noqa: B023
        print(f"| {tuple(shape)} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.1f}x |")


if __name__ == "__main__":
    main()
