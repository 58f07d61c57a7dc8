"""Benchmark: cached-crop training / inference vs naive MONAI loops that read NIfTI every epoch.

Pipelines, per model and crop size:

- ``cached``: the library's path (``livermets.deep.train``): crops cut once into one array,
  augmentation on tensors, the study's default numerics (``precision: auto``, channels-last, fused
  AdamW; batch-norm fused into the convolutions and ``inference_mode`` for inference);
- ``cached-fp32``: the same cached crops with float32, the default memory format and plain
  AdamW (the cached pipeline before precision / format were settings);
- ``naive-crops``: what a plain MONAI user writes: ``Dataset`` + ``LoadImaged`` + transforms +
  ``DataLoader`` reading one pre-cut NIfTI crop per sample every epoch, float32;
- ``naive-volume``: the same loop reading the lesion's whole CT volume NIfTI every epoch and
  cropping the lesion box (from the lesions table) with ``SpatialCrop`` (what the seed papers'
  code does).

Each measurement runs in a fresh process (for its peak RSS); the pipelines alternate within each
repeat, and the table gives medians over repeats and the median of the per-repeat ratios. Rates
are given per wall-clock second and per CPU second of the process: with ``--threads 1`` the CPU
time is what the run would take on an idle core, which makes the comparison robust on a shared,
loaded machine (wall-clock rates there depend on what else runs).

    .venv/bin/python benchmarks/deep.py [--patients 16] [--steps 6] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CONFIGS = [("densenet121", 64), ("densenet121", 96), ("resnet18", 64)]
KINDS = ("cached", "cached-fp32", "naive-crops", "naive-volume")
BATCH = 16
WINDOW = (-155.0, 175.0)  # W330/L10, as HU bounds


def _prepare(root: Path, patients: int, scale: float) -> tuple[Path, Path]:
    """A synthetic cohort; its cached crops (.npz), pre-cut NIfTI crops and the index of both."""
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
    settings = CropSettings(size=64, max_slices=3, window="seed")
    crops = build_crops(manifest, lesions, settings, root / "cache")
    rows = {str(r.patient_id): r for r in manifest.rows()}
    index = []
    folder = root / "nifti"
    folder.mkdir(exist_ok=True)
    images = {}
    pad = 4
    for k, m in crops.meta.iterrows():
        lesion = lesions[(lesions.patient_id.astype(str) == m.patient_id)
                         & (lesions.lesion_id.astype(str) == m.lesion_id)].iloc[0]
        volume_path = str(rows[m.patient_id].images["image"])
        if m.patient_id not in images:
            images[m.patient_id] = sitk.GetArrayFromImage(sitk.ReadImage(volume_path))
        vol = images[m.patient_id]
        j0, j1 = max(0, int(lesion.bbox_j_min) - pad), int(lesion.bbox_j_max) + pad + 1
        i0, i1 = max(0, int(lesion.bbox_i_min) - pad), int(lesion.bbox_i_max) + pad + 1
        crop = vol[int(m.slice), j0:j1, i0:i1].astype(np.float32)
        path = folder / f"crop{k:05d}.nii.gz"
        nib.save(nib.Nifti1Image(crop.T[:, :, None], np.eye(4)), path)
        # the whole-volume loop crops (x, y, z) = (i, j, k) boxes of the volume as nibabel reads it
        index.append({"image": str(path), "volume": volume_path,
                      "box_start": [i0, j0, int(m.slice)], "box_end": [i1, j1, int(m.slice) + 1],
                      "label": int(m.label == "metastasis"),
                      "patient_id": m.patient_id, "lesion_id": m.lesion_id})
    pd.DataFrame(index).to_json(root / "index.json", orient="records")
    return next((root / "cache").glob("crops-*.npz")), root / "index.json"


def _cached(backbone: str, size: int, crops_path: str, legacy: bool) -> dict[str, Any]:
    """Model, optimiser, batch stream and inference of the cached pipeline."""
    import torch
    import torch.nn.functional as F

    from livermets.deep.augment import augment_batch
    from livermets.deep.config import AugmentSettings, CropSettings, TrainSettings
    from livermets.deep.crops import load_crops
    from livermets.deep.losses import WeightedCrossEntropy
    from livermets.deep.networks import LesionNet
    from livermets.deep.train import Numerics, batch_loss, make_optimizer, predict_crops

    crops = load_crops(crops_path, CropSettings(size=64, window="seed"))
    if size != crops.images.shape[-1]:  # the crops a study at this size would cache
        crops.images = F.interpolate(torch.from_numpy(crops.images), size=(size, size),
                                     mode="bilinear").numpy()
    device = torch.device("cpu")
    settings = TrainSettings(precision="fp32", channels_last=False) if legacy else TrainSettings()
    numerics = Numerics.of(settings, device, 2)
    model = numerics.model(LesionNet(backbone, 2, 1, 1, 2))
    optim = (torch.optim.AdamW(model.parameters(), 1e-3) if legacy
             else make_optimizer(list(model.parameters()), settings, device))
    loss_fn = WeightedCrossEntropy(None)
    images = torch.from_numpy(crops.images)
    labels = torch.from_numpy((crops.meta["label"] == "metastasis").to_numpy().astype(int))
    gen = torch.Generator().manual_seed(0)
    augment = AugmentSettings()

    def step() -> int:
        rows = torch.randperm(len(images), generator=gen)[:BATCH]
        x = numerics.inputs(augment_batch(images[rows], augment, gen))
        optim.zero_grad(set_to_none=True)
        batch_loss(model, loss_fn, None, 0.0, x, None, None, labels[rows], numerics)
        optim.step()
        return BATCH

    def infer() -> None:
        if legacy:
            predict_crops(model, crops, batch_size=64)
        else:
            predict_crops(model, crops, numerics=numerics, fuse=True)

    lesions = crops.meta[["patient_id", "lesion_id"]].drop_duplicates().shape[0]
    return {"model": model, "step": step, "infer": infer, "lesions": lesions}


class _CropBoxd:
    """Crops ``image`` to the sample's own box (``box_start`` / ``box_end`` of the lesions
    table) with MONAI's ``SpatialCrop``: the per-sample crop a user adds to a MONAI pipeline."""

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        from monai.transforms import SpatialCrop

        out = dict(data)
        out["image"] = SpatialCrop(roi_start=data["box_start"], roi_end=data["box_end"])(
            data["image"])
        return out


def _naive(backbone: str, size: int, index_path: str, whole_volume: bool) -> dict[str, Any]:
    """Model, optimiser, batch stream and inference of a plain MONAI loop (float32)."""
    import pandas as pd
    import torch
    import torch.nn.functional as F
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

    from livermets.deep.networks import LesionNet

    index = pd.read_json(index_path, orient="records")
    if whole_volume:
        rows = index.assign(image=index["volume"])[["image", "label", "box_start", "box_end"]]
        load = [LoadImaged("image"), EnsureChannelFirstd("image"), _CropBoxd(),
                SqueezeDimd("image", dim=-1)]
    else:
        rows = index[["image", "label"]]
        load = [LoadImaged("image"), SqueezeDimd("image", dim=-1), EnsureChannelFirstd("image")]
    data = rows.to_dict("records")
    base = [*load, ScaleIntensityRanged("image", *WINDOW, 0, 1, clip=True),
            Resized("image", (size, size))]
    train_t = Compose([*base, RandAffined("image", prob=1.0, rotate_range=0.26, scale_range=0.1,
                                          shear_range=0.05, translate_range=3),
                       RandFlipd("image", prob=0.5, spatial_axis=0)])
    loader = DataLoader(Dataset(data, train_t), batch_size=BATCH, shuffle=True, num_workers=0,
                        drop_last=True)
    model = LesionNet(backbone, 2, 1, 1, 2)
    optim = torch.optim.AdamW(model.parameters(), 1e-3)

    def batches():
        while True:
            for item in loader:
                yield item["image"].as_tensor().float(), item["label"]

    stream = batches()

    def step() -> int:
        x, y = next(stream)
        optim.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optim.step()
        return len(x)

    infer_loader = DataLoader(Dataset(data, Compose(base)), batch_size=64, num_workers=0)

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            for item in infer_loader:
                torch.softmax(model(item["image"].as_tensor().float()), 1)

    lesions = index[["patient_id", "lesion_id"]].drop_duplicates().shape[0]
    return {"model": model, "step": step, "infer": infer, "lesions": lesions}


def _measure(kind: str, backbone: str, size: int, crops_path: str, index_path: str,
             steps: int, threads: int, queue: mp.Queue) -> None:
    """One measurement in its own process: put (train images per wall-clock s and per CPU s,
    inference wall-clock and CPU ms per lesion, peak RSS MB)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind.startswith("cached"):
        run = _cached(backbone, size, crops_path, legacy=kind == "cached-fp32")
    else:
        run = _naive(backbone, size, index_path, whole_volume=kind == "naive-volume")
    run["model"].train()
    run["step"]()  # warm-up step (not timed)
    start, cpu = time.perf_counter(), time.process_time()
    seen = sum(run["step"]() for _ in range(steps))
    train = (seen / (time.perf_counter() - start), seen / (time.process_time() - cpu))
    run["infer"]()  # warm-up pass (not timed)
    start, cpu = time.perf_counter(), time.process_time()
    run["infer"]()
    infer = ((time.perf_counter() - start) * 1000 / run["lesions"],
             (time.process_time() - cpu) * 1000 / run["lesions"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((*train, *infer, peak))


def _run(ctx: Any, kind: str, backbone: str, size: int, paths: tuple[Path, Path],
         args: argparse.Namespace) -> tuple[float, ...]:
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(kind, backbone, size, str(paths[0]), str(paths[1]),
                                              args.steps, args.threads, queue))
    proc.start()
    while True:
        try:
            value = queue.get(timeout=5)
            break
        except Exception:  # queue.Empty: the measurement is still running, or died
            if not proc.is_alive():
                raise RuntimeError(f"{kind} {backbone} {size}: the measurement process failed "
                                   f"(exit code {proc.exitcode})") from None
    proc.join()
    return value


def main(argv: list[str] | None = None) -> int:
    """Run every configuration with every pipeline, alternating, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    ctx = mp.get_context("spawn")
    runs: dict[tuple[str, int, str], list[tuple[float, ...]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = _prepare(Path(tmp), args.patients, args.scale)
        print(f"synthetic cohort: {args.patients} patients (scale {args.scale}); {args.steps} "
              f"timed steps of batch {BATCH}; {args.threads} threads; {args.repeats} repeats",
              file=sys.stderr)
        for repeat in range(args.repeats):
            for backbone, size in CONFIGS:
                for kind in kinds:
                    value = _run(ctx, kind, backbone, size, paths, args)
                    runs.setdefault((backbone, size, kind), []).append(value)
                    print(f"  repeat {repeat}: {backbone} {size} {kind}: "
                          + ", ".join(f"{v:.2f}" for v in value), file=sys.stderr, flush=True)
    print("| model | px | pipeline | train img/s | train img/CPU-s | infer ms/lesion "
          "| infer CPU-ms/lesion | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for backbone, size in CONFIGS:
        for kind in kinds:
            values = runs[(backbone, size, kind)]
            rate, cpu_rate, ms, cpu_ms, peak = (statistics.median(v[i] for v in values)
                                                for i in range(5))
            print(f"| {backbone} | {size} | {kind} | {rate:.1f} | {cpu_rate:.1f} | {ms:.2f} | "
                  f"{cpu_ms:.2f} | {peak:.0f} |")
    if "cached" not in kinds:
        return 0
    print("\nSpeed-up of cached over each pipeline: median of the per-repeat ratios, wall-clock "
          "(CPU time).")
    print("\n| model | px | vs | training | inference |")
    print("|---|---|---|---|---|")
    for backbone, size in CONFIGS:
        cached = runs[(backbone, size, "cached")]
        for kind in kinds:
            if kind == "cached":
                continue
            pairs = list(zip(cached, runs[(backbone, size, kind)], strict=True))
            train = [statistics.median(c[i] / o[i] for c, o in pairs) for i in (0, 1)]
            infer = [statistics.median(o[i] / c[i] for c, o in pairs) for i in (2, 3)]
            print(f"| {backbone} | {size} | {kind} | {train[0]:.2f}x ({train[1]:.2f}x) | "
                  f"{infer[0]:.2f}x ({infer[1]:.2f}x) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
