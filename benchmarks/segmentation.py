"""Benchmark: sliding-window inference time per patient of the MONAI segmenter on CPU.

Run: .venv/bin/python benchmarks/segmentation.py [--shape 96,256,256] [--runs 3] [--threads 1]
Times are medians over runs for one synthetic CT (z, y, x voxels at 0.8 x 0.8 x 2.5 mm),
including resampling to the network grid, normalisation, sliding window, argmax and resampling
back onto the image grid. The network has random weights: the time does not depend on them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import SimpleITK as sitk


def synthetic_ct(shape: tuple[int, int, int], seed: int = 0) -> sitk.Image:
    """A body ellipsoid with a liver and two lesions, CT values plus noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    nz, ny, nx = shape
    body = ((z - nz / 2) / (nz / 2)) ** 2 + ((y - ny / 2) / (ny / 2.3)) ** 2 + (
        (x - nx / 2) / (nx / 2.2)
    ) ** 2 <= 1
    liver = ((z - nz / 2) / (nz / 3)) ** 2 + ((y - ny / 2) / (ny / 5)) ** 2 + (
        (x - nx / 3) / (nx / 6)
    ) ** 2 <= 1
    ct = np.full(shape, -1000.0, dtype=np.float32)
    ct[body] = 40
    ct[liver] = 100
    ct += rng.normal(0, 10, shape).astype(np.float32)
    image = sitk.GetImageFromArray(ct.astype(np.int16))
    image.SetSpacing((0.8, 0.8, 2.5))
    return image


def main() -> None:
    """Time inference for each requested configuration and print a table."""
    import torch

    from livermets.segment.monai_model import (
        Intensity,
        SegmenterModel,
        SegmenterSettings,
        build_network,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", default="64,256,256", help="z,y,x voxels of the CT")
    parser.add_argument("--spacing", default="1.6,1.6,2.5", help="network grid x,y,z mm")
    parser.add_argument("--patch", default="32,96,96", help="patch z,y,x")
    parser.add_argument("--filters", default="16,32,64,128,256")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="torch threads to compare")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    image = synthetic_ct(shape)  # type: ignore[arg-type]
    print(f"torch {torch.__version__}, CT {shape[::-1]} voxels (x, y, z) at 0.8x0.8x2.5 mm")
    print(f"{'network':<9}{'threads':>8}{'patch':>12}{'grid spacing':>15}{'median s':>10}"
          f"{'min s':>8}{'max s':>8}")  # fmt: skip
    for network in ("dynunet", "unet"):
        for threads in (int(t) for t in args.threads.split(",")):
            settings = SegmenterSettings(
                network=network,
                patch_size=tuple(int(v) for v in args.patch.split(",")),  # type: ignore[arg-type]
                spacing=tuple(float(v) for v in args.spacing.split(",")),  # type: ignore[arg-type]
                filters=tuple(int(v) for v in args.filters.split(",")),
                threads=threads,
            )
            assert settings.spacing is not None
            model = SegmenterModel(
                settings, ["background", "liver", "lesion"], settings.spacing,
                Intensity("ct", -200.0, 300.0, 80.0, 60.0),
                build_network(settings, 3, settings.spacing),
            )  # fmt: skip
            model.predict(image)  # warm-up
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                model.predict(image)
                times.append(time.perf_counter() - start)
            print(f"{network:<9}{threads:>8}{args.patch:>12}{args.spacing:>15}"
                  f"{np.median(times):>10.2f}{min(times):>8.2f}{max(times):>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
