"""Benchmark: cached-crop training / inference vs a naive MONAI loop reading NIfTI crops each epoch.

Prints a markdown table: training images/s, inference ms per lesion and peak RSS per model and
pipeline, and the cached / naive ratios. Each measurement runs in a fresh process.

    .venv/bin/python benchmarks/deep.py [--patients 16] [--steps 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = [("densenet121", 64), ("densenet121", 96), ("resnet18", 64)]


def _prepare(root: Path, patients: int, scale: float) -> tuple[Path, Path]:
    """A synthetic cohort; its cached crops (.npz) and the same crops as NIfTI files + index."""
    import nibabel as nib
    import pandas as pd
    import SimpleITK as sitk

    from livermets.cohort import load_manifest
    from livermets.deep.config import CropSettings
    from livermets.deep.crops import build_crops
    from livermets.lesions import LesionSettings, build_lesion_tables
    from livermets.synth import generate_cohort, make_config

    cohort = generate_cohort(make_config("crlm-vs-hemangioma", patients, 0, 1, scale=scale),
                             root / "cohort", workers=1)
    manifest = load_manifest(cohort.manifest)
    lesions, _ = build_lesion_tables(manifest, LesionSettings())
    settings = CropSettings(size=64, max_slices=3, window="none")
    crops = build_crops(manifest, lesions, settings, root / "cache")
    # the naive baseline: raw HU crops (lesion box + margin) of the same slices, as NIfTI files
    rows = {str(r.patient_id): r for r in manifest.rows()}
    index = []
    folder = root / "nifti"
    folder.mkdir(exist_ok=True)
    images = {}
    for k, m in crops.meta.iterrows():
        lesion = lesions[(lesions.patient_id.astype(str) == m.patient_id)
                         & (lesions.lesion_id.astype(str) == m.lesion_id)].iloc[0]
        if m.patient_id not in images:
            images[m.patient_id] = sitk.GetArrayFromImage(
                sitk.ReadImage(str(rows[m.patient_id].image)))
        vol = images[m.patient_id]
        pad = 4
        j0, j1 = max(0, lesion.bbox_j_min - pad), lesion.bbox_j_max + pad + 1
        i0, i1 = max(0, lesion.bbox_i_min - pad), lesion.bbox_i_max + pad + 1
        crop = vol[int(m.slice), j0:j1, i0:i1].astype(np.float32)
        path = folder / f"crop{k:05d}.nii.gz"
        nib.save(nib.Nifti1Image(crop.T[:, :, None], np.eye(4)), path)
        index.append({"image": str(path), "label": int(m.label == "metastasis"),
                      "patient_id": m.patient_id, "lesion_id": m.lesion_id})
    pd.DataFrame(index).to_csv(root / "nifti.csv", index=False)
    return next((root / "cache").glob("crops-*.npz")), root / "nifti.csv"


def _measure(kind: str, backbone: str, size: int, crops_path: str, index_path: str,
             steps: int, threads: int, queue: mp.Queue) -> None:
    """One measurement in its own process: put (train images/s, inference ms/lesion, peak MB)."""
    import pandas as pd
    import torch
    import torch.nn.functional as F

    from livermets.deep.augment import augment_batch
    from livermets.deep.config import AugmentSettings, CropSettings
    from livermets.deep.crops import load_crops
    from livermets.deep.networks import LesionNet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch = 16
    model = LesionNet(backbone, 2, 1, 1, 2)
    optim = torch.optim.AdamW(model.parameters(), 1e-3)
    if kind == "cached":
        crops = load_crops(crops_path, CropSettings(size=64, window="none"))
        images = torch.from_numpy(crops.images)
        if size != images.shape[-1]:
            images = F.interpolate(images, size=(size, size), mode="bilinear")
        labels = torch.from_numpy((crops.meta["label"] == "metastasis").to_numpy().astype(int))
        gen = torch.Generator().manual_seed(0)

        def batches():
            while True:
                order = torch.randperm(len(images), generator=gen)
                for b in range(0, len(order) - batch + 1, batch):
                    rows = order[b:b + batch]
                    yield augment_batch(images[rows], AugmentSettings(), gen), labels[rows]

        def infer():
            return [images[b:b + 64] for b in range(0, len(images), 64)]
        n_lesions = crops.meta[["patient_id", "lesion_id"]].drop_duplicates().shape[0]
    else:
        from monai.data import DataLoader, Dataset
        from monai.transforms import (
            Compose,
            EnsureChannelFirstd,
            LoadImaged,
            RandAffined,
            RandFlipd,
            Resized,
            ScaleIntensityRanged,
            SqueezeDimd,
        )

        index = pd.read_csv(index_path)
        data = index[["image", "label"]].to_dict("records")
        base = [LoadImaged("image"), SqueezeDimd("image", dim=-1), EnsureChannelFirstd("image"),
                ScaleIntensityRanged("image", -155, 175, 0, 1, clip=True),
                Resized("image", (size, size))]
        train_t = Compose([*base, RandAffined("image", prob=1.0, rotate_range=0.26,
                                              scale_range=0.1, shear_range=0.05,
                                              translate_range=3),
                           RandFlipd("image", prob=0.5, spatial_axis=0)])
        loader = DataLoader(Dataset(data, train_t), batch_size=batch, shuffle=True,
                            num_workers=0, drop_last=True)

        def batches():
            while True:
                for item in loader:
                    yield item["image"].as_tensor().float(), item["label"]

        infer_loader = DataLoader(Dataset(data, Compose(base)), batch_size=64, num_workers=0)

        def infer():
            return (item["image"].as_tensor().float() for item in infer_loader)
        n_lesions = index[["patient_id", "lesion_id"]].drop_duplicates().shape[0]
    stream = batches()
    model.train()
    x, y = next(stream)  # warm-up step (not timed)
    F.cross_entropy(model(x), y).backward()
    optim.step()
    start = time.perf_counter()
    seen = 0
    for _ in range(steps):
        x, y = next(stream)
        optim.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optim.step()
        seen += len(x)
    train_rate = seen / (time.perf_counter() - start)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for x in infer():
            model(x)
    infer_ms = (time.perf_counter() - start) * 1000 / n_lesions
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((train_rate, infer_ms, peak))


def main(argv: list[str] | None = None) -> int:
    """Run every configuration with both pipelines and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        crops_path, index_path = _prepare(Path(tmp), args.patients, args.scale)
        print(f"synthetic cohort: {args.patients} patients; {args.steps} timed steps of batch 16;"
              f" {args.threads} threads", file=sys.stderr)
        print("| model | px | pipeline | train img/s | infer ms/lesion | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        ratios = []
        for backbone, size in CONFIGS:
            result = {}
            for kind in ("cached", "naive"):
                queue = ctx.Queue()
                proc = ctx.Process(target=_measure, args=(kind, backbone, size, str(crops_path),
                                                          str(index_path), args.steps,
                                                          args.threads, queue))
                proc.start()
                result[kind] = queue.get()
                proc.join()
                rate, ms, peak = result[kind]
                print(f"| {backbone} | {size} | {kind} | {rate:.1f} | {ms:.1f} | {peak:.0f} |",
                      flush=True)
            ratios.append((backbone, size, result["cached"][0] / result["naive"][0],
                           result["naive"][1] / result["cached"][1]))
        print("\n| model | px | training speed-up (cached/naive) | inference speed-up |")
        print("|---|---|---|---|")
        for backbone, size, train_ratio, infer_ratio in ratios:
            print(f"| {backbone} | {size} | {train_ratio:.2f}x | {infer_ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
