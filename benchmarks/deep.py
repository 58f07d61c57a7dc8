"""Benchmark: cached-crop training / inference vs naive MONAI loops that read NIfTI every epoch.

Pipelines, per model and crop size:

- ``cached``: the library's path (``livermets.deep.train``): crops cut once into one array,
  augmentation on tensors, the study's default numerics (``precision: auto``, channels-last, fused
  AdamW; inference under ``inference_mode`` in batches of 128, as for a study's test folds);
- ``cached-fp32``: the same cached crops with float32, the default memory format and plain
  AdamW (the cached pipeline before precision / format were settings);
- ``naive-crops``: what a plain MONAI user writes: ``Dataset`` + ``LoadImaged`` + transforms +
  ``DataLoader`` reading one pre-cut NIfTI crop per sample every epoch, float32;
- ``naive-volume``: the same loop reading the lesion's whole CT volume NIfTI every epoch and
  cropping the lesion box (from the lesions table) with ``SpatialCrop`` (what the seed papers'
  code does).

Every pipeline of a configuration runs in its own process (no shared oneDNN primitive cache,
allocator or memory between them), built and warmed up once; the processes are then timed one at
a time, round after round (the order rotates), so that a burst of load on a shared machine hits
them alike. The tables give medians over rounds and the median of the per-round ratios; peak RSS
is each process's own. Rates are per wall-clock second and per CPU second of the process: with
``--threads 1`` the CPU time is what the run would take on an idle core.

    .venv/bin/python benchmarks/deep.py [--patients 16] [--rounds 7] [--steps 4] [--threads 2]
        [--batch 32] [--configs densenet121:64,resnet18:64]
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
BATCH = 32  # the library's default (TrainSettings.batch_size)
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


def _cached(backbone: str, size: int, crops_path: str, legacy: bool,
            batch: int) -> dict[str, Any]:
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
        model.train()
        rows = torch.randperm(len(images), generator=gen)[:batch]
        x = numerics.inputs(augment_batch(images[rows], augment, gen))
        optim.zero_grad(set_to_none=True)
        batch_loss(model, loss_fn, None, 0.0, x, None, None, labels[rows], numerics)
        optim.step()
        return batch

    def infer() -> None:
        if legacy:
            predict_crops(model, crops, batch_size=64)
        else:
            predict_crops(model, crops, numerics=numerics)

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


def _naive(backbone: str, size: int, index_path: str, whole_volume: bool,
           batch: int) -> dict[str, Any]:
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
    loader = DataLoader(Dataset(data, train_t), batch_size=batch, shuffle=True, num_workers=0,
                        drop_last=True)
    model = LesionNet(backbone, 2, 1, 1, 2)
    optim = torch.optim.AdamW(model.parameters(), 1e-3)

    def batches():
        while True:
            for item in loader:
                yield item["image"].as_tensor().float(), item["label"]

    stream = batches()

    def step() -> int:
        model.train()
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


def _pipeline(kind: str, backbone: str, size: int, crops_path: str, index_path: str,
              batch: int) -> dict[str, Any]:
    if kind.startswith("cached"):
        return _cached(backbone, size, crops_path, legacy=kind == "cached-fp32", batch=batch)
    return _naive(backbone, size, index_path, whole_volume=kind == "naive-volume", batch=batch)


def _timed(fn: Any, count: float) -> tuple[float, float]:
    """(wall-clock s, CPU s of this process) of ``fn()``, per ``count``."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - start) / count, (time.process_time() - cpu) / count


def _worker(kind: str, backbone: str, size: int, crops_path: str, index_path: str,
            batch: int, steps: int, threads: int, conn: Any) -> None:
    """One pipeline in its own process, timed on request: each ``"round"`` message runs
    ``steps`` training steps then one inference pass and answers (train img/s, img/CPU-s,
    inference ms and CPU-ms per lesion); ``"peak"`` answers the peak RSS (MB) so far."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    run = _pipeline(kind, backbone, size, crops_path, index_path, batch)
    run["step"]()  # warm-up (not timed)
    run["step"]()
    run["infer"]()
    conn.send("ready")
    while (message := conn.recv()) != "stop":
        if message == "peak":
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            continue
        wall, cpu = _timed(lambda: [run["step"]() for _ in range(steps)], steps * batch)
        infer_wall, infer_cpu = _timed(run["infer"], run["lesions"] / 1000.0)
        conn.send((1.0 / wall, 1.0 / cpu, infer_wall, infer_cpu))


def _measure(ctx: Any, kinds: list[str], backbone: str, size: int, crops_path: str,
             index_path: str, batch: int, steps: int, threads: int,
             rounds: int) -> tuple[dict[str, list[tuple[float, ...]]], dict[str, float]]:
    """Per-round timings and peak RSS of every pipeline: one process per pipeline, built
    once, then timed one at a time, round after round (the order rotates), so that a burst of
    load hits all alike and no pipeline shares caches or memory with another."""
    workers = {}
    for kind in kinds:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(kind, backbone, size, crops_path, index_path,
                                                 batch, steps, threads, child))
        proc.start()
        workers[kind] = (proc, parent)
        _answer(proc, parent, kind)  # built and warm before the next one starts
    out: dict[str, list[tuple[float, ...]]] = {kind: [] for kind in kinds}
    try:
        for r in range(rounds):
            for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                proc, conn = workers[kind]
                conn.send("round")
                out[kind].append(_answer(proc, conn, kind))
        peaks = {}
        for kind, (proc, conn) in workers.items():
            conn.send("peak")
            peaks[kind] = _answer(proc, conn, kind)
            conn.send("stop")
    finally:
        for proc, _ in workers.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    return out, peaks


def _answer(proc: Any, conn: Any, kind: str) -> Any:
    """The worker's next message; an error if the worker died first."""
    while not conn.poll(5):
        if not proc.is_alive():
            raise RuntimeError(f"the {kind} pipeline's process failed (exit code "
                               f"{proc.exitcode})")
    return conn.recv()


def main(argv: list[str] | None = None) -> int:
    """Time every configuration with every pipeline, alternating, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.5)
    parser.add_argument("--steps", type=int, default=4, help="training steps per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--configs", default=",".join(f"{b}:{s}" for b, s in CONFIGS),
                        help="backbone:px pairs")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    configs = [(b, int(px)) for b, px in (c.split(":") for c in args.configs.split(","))]
    ctx = mp.get_context("spawn")
    timing, peaks = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(p) for p in _prepare(Path(tmp), args.patients, args.scale)]
        print(f"synthetic cohort: {args.patients} patients (scale {args.scale}); {args.rounds} "
              f"rounds of {args.steps} training steps (batch {args.batch}) and one inference pass "
              f"per pipeline; {args.threads} threads", file=sys.stderr)
        for backbone, size in configs:
            timing[(backbone, size)], peak = _measure(ctx, kinds, backbone, size, *paths,
                                                      args.batch, args.steps, args.threads,
                                                      args.rounds)
            peaks.update({(backbone, size, kind): mb for kind, mb in peak.items()})
            print(f"  {backbone} {size}: " + "; ".join(
                f"{k} " + " ".join(f"{v[0]:.1f}" for v in timing[(backbone, size)][k])
                for k in kinds) + " img/s per round", file=sys.stderr, flush=True)
    print("| model | px | pipeline | train img/s | train img/CPU-s | infer ms/lesion "
          "| infer CPU-ms/lesion | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for backbone, size in configs:
        for kind in kinds:
            values = timing[(backbone, size)][kind]
            med = [statistics.median(v[i] for v in values) for i in range(4)]
            print(f"| {backbone} | {size} | {kind} | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.2f} "
                  f"| {med[3]:.2f} | {peaks[(backbone, size, kind)]:.0f} |")
    if "cached" not in kinds:
        return 0
    print("\nSpeed-up of cached: median of the per-round ratios, wall-clock (CPU time); "
          "training range over rounds in brackets.")
    print("\n| model | px | vs | training | training range | inference |")
    print("|---|---|---|---|---|---|")
    for backbone, size in configs:
        cached = timing[(backbone, size)]["cached"]
        for kind in kinds:
            if kind == "cached":
                continue
            pairs = list(zip(cached, timing[(backbone, size)][kind], strict=True))
            train = [[c[i] / o[i] for c, o in pairs] for i in (0, 1)]
            infer = [statistics.median(o[i] / c[i] for c, o in pairs) for i in (2, 3)]
            print(f"| {backbone} | {size} | {kind} | {statistics.median(train[0]):.2f}x "
                  f"({statistics.median(train[1]):.2f}x) | {min(train[0]):.2f}-"
                  f"{max(train[0]):.2f}x | {infer[0]:.2f}x ({infer[1]:.2f}x) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
