"""Training of a lesion CNN on cached crops: grouped inner validation split, early stopping on
validation AUC, cosine schedule, AdamW or SAM, checkpoints and resume, seeded and deterministic."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from livermets._atomic import atomic_path
from livermets.deep.aggregate import lesion_probabilities
from livermets.deep.augment import augment_batch
from livermets.deep.config import DeepModelSpec
from livermets.deep.crops import CropSet
from livermets.deep.losses import (
    AsymmetricSupConLoss,
    FocalLoss,
    WeightedCrossEntropy,
    balanced_class_weights,
)
from livermets.deep.networks import LesionNet, load_weights
from livermets.deep.sam import SAM
from livermets.errors import ConfigError, DataError


def select_device(preference: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for ``auto``; an explicit choice must be available."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (preference == "cuda" and not cuda) or (preference == "mps" and not mps):
        raise ConfigError(f"train.device {preference} is not available here; use auto or cpu.")
    return torch.device(preference)


@contextlib.contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seed torch and use deterministic algorithms inside the block (restored afterwards)."""
    before = torch.are_deterministic_algorithms_enabled()
    old_threads = torch.get_num_threads()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.set_num_threads(old_threads)


def grouped_validation_split(y: np.ndarray, groups: np.ndarray, fraction: float,
                             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train / validation row indices with every patient on one side (stratified by class)."""
    n_groups = len(np.unique(groups))
    n_splits = max(2, min(round(1.0 / fraction), n_groups))
    if n_groups < 2:
        raise DataError("the inner validation split needs 2 or more patients in the training fold.")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = list(splitter.split(np.zeros(len(y)), y, groups))
    for train, val in splits:
        if len(np.unique(y[val])) == len(np.unique(y)) and len(np.unique(y[train])) > 1:
            return train, val
    return splits[0]


def auc_score(y: np.ndarray, prob: np.ndarray) -> float:
    """AUC (binary) or macro one-vs-rest AUC; NaN when a class is missing."""
    n = prob.shape[1]
    if len(np.unique(y)) < 2:
        return float("nan")
    if n == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    present = np.unique(y)
    if len(present) < n:
        return float("nan")
    return float(roc_auc_score(y, prob, multi_class="ovr", average="macro", labels=range(n)))


@dataclass
class TrainResult:
    """A trained network and what was chosen on the validation patients."""

    model: LesionNet
    best_epoch: int
    best_val_auc: float
    history: list[dict[str, float]]
    val_rows: np.ndarray
    val_prob: np.ndarray
    clinical_mean: np.ndarray | None = None
    clinical_std: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_model(spec: DeepModelSpec, crops: CropSet, n_classes: int, n_clinical: int) -> LesionNet:
    """The network of ``spec`` for these crops (weights from a local file when given)."""
    net = spec.network
    model = LesionNet(net.backbone, 3 if spec.crops.mode == "3d" else 2, len(crops.phases),
                      crops.channels_per_phase, n_classes, net.fusion, n_clinical,
                      net.clinical_hidden, net.dropout)
    if net.weights is not None:
        load_weights(model, net.weights)
    return model


def predict_crops(model: torch.nn.Module, crops: CropSet, clinical: np.ndarray | None = None,
                  batch_size: int = 64, device: torch.device | None = None) -> np.ndarray:
    """Softmax class probabilities of every crop."""
    device = device or torch.device("cpu")
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(crops), batch_size):
            sl = slice(start, start + batch_size)
            x = torch.from_numpy(crops.images[sl]).to(device)
            present = torch.from_numpy(crops.present[sl]).to(device)
            clin = None if clinical is None else torch.from_numpy(clinical[sl]).float().to(device)
            out.append(torch.softmax(model(x, present, clin).float(), 1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def embed_crops(model: LesionNet, crops: CropSet, clinical: np.ndarray | None = None,
                batch_size: int = 64) -> np.ndarray:
    """Penultimate-layer embedding of every crop."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(crops), batch_size):
            sl = slice(start, start + batch_size)
            clin = None if clinical is None else torch.from_numpy(clinical[sl]).float()
            out.append(model.embed(torch.from_numpy(crops.images[sl]),
                                   torch.from_numpy(crops.present[sl]), clin).numpy())
    return np.concatenate(out)


def _loss_fns(spec: DeepModelSpec, y: np.ndarray, n_classes: int,
              classes: list[Any]) -> tuple[torch.nn.Module, AsymmetricSupConLoss | None]:
    t = spec.train
    weight = balanced_class_weights(y, n_classes) if t.class_weights == "balanced" else None
    main: torch.nn.Module = (FocalLoss(t.focal_gamma, weight) if t.loss == "focal"
                             else WeightedCrossEntropy(weight))
    if t.loss != "ce+supcon":
        return main, None
    other = [k for k, c in enumerate(classes) if t.other_class is not None
             and str(c) == t.other_class]
    if t.other_class is not None and not other:
        raise ConfigError(f"train.other_class {t.other_class!r} is not a class: {classes}")
    return main, AsymmetricSupConLoss(t.supcon_temperature, other, t.memory_size)


def _fingerprint(spec: DeepModelSpec, crops: CropSet, y: np.ndarray, seed: int) -> str:
    digest = hashlib.sha256(spec.model_dump_json().encode())
    digest.update(str((seed, crops.images.shape)).encode())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(crops.meta[["patient_id", "lesion_id"]].to_numpy().astype(str).tobytes())
    return digest.hexdigest()[:16]


def _save(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def train_lesion_model(crops: CropSet, y: np.ndarray, classes: list[Any], spec: DeepModelSpec,
                       seed: int = 0, clinical: np.ndarray | None = None,
                       checkpoint_dir: str | Path | None = None, resume: bool = True,
                       progress: bool = False, max_epochs: int | None = None) -> TrainResult:
    """Train on ``crops`` (crop labels ``y``, encoded 0..K-1) with a patient-grouped validation.

    The validation patients are taken from the given crops only, so pass the training fold:
    the test fold is never seen. ``max_epochs`` stops early (to test resuming).
    """
    import torch.distributed as dist

    t = spec.train
    n_classes = len(classes)
    y = np.asarray(y, dtype=int)
    groups = crops.meta["patient_id"].astype(str).to_numpy()
    train_rows, val_rows = grouped_validation_split(y, groups, t.val_fraction, seed)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    device = select_device(t.device) if world == 1 else torch.device("cpu")
    amp = t.amp and device.type == "cuda"
    mean = std = None
    clin = None
    if clinical is not None:
        clinical = np.asarray(clinical, dtype=np.float32)
        mean = np.nanmean(clinical[train_rows], axis=0)
        std = np.nanstd(clinical[train_rows], axis=0)
        std = np.where(std > 0, std, 1.0)
        clin = np.nan_to_num((clinical - mean) / std).astype(np.float32)
    with deterministic(seed, t.threads):
        model = build_model(spec, crops, n_classes, 0 if clin is None else clin.shape[1])
        model.to(device)
        net: torch.nn.Module = model
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(model)
        main_loss, supcon = _loss_fns(spec, y[train_rows], n_classes, classes)
        main_loss.to(device)
        params = [p for p in net.parameters() if p.requires_grad]
        if t.optimizer == "sam":
            optim: torch.optim.Optimizer = SAM(params, torch.optim.AdamW, rho=t.sam_rho, lr=t.lr,
                                               weight_decay=t.weight_decay)
        else:
            optim = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
        base = optim.base_optimizer if isinstance(optim, SAM) else optim
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(base, T_max=t.epochs)
                    if t.schedule == "cosine"
                    else torch.optim.lr_scheduler.LambdaLR(base, lambda e: 1.0))
        generator = torch.Generator().manual_seed(seed)
        history: list[dict[str, float]] = []
        best_auc, best_loss, best_epoch = -np.inf, np.inf, -1
        best_state = copy.deepcopy(model.state_dict())
        start = 0
        key = _fingerprint(spec, crops, y, seed)
        ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if ckpt is not None and resume and (ckpt / "last.pt").is_file():
            state = torch.load(ckpt / "last.pt", map_location="cpu", weights_only=False)
            if state.get("key") == key:
                model.load_state_dict(state["model"])
                base.load_state_dict(state["optimizer"])
                schedule.load_state_dict(state["schedule"])
                generator.set_state(state["generator"])
                torch.set_rng_state(state["torch_rng"])
                history, best_auc = state["history"], state["best_auc"]
                best_loss = state["best_loss"]
                best_epoch, best_state = state["best_epoch"], state["best_state"]
                start = state["epoch"] + 1
                if supcon is not None and state.get("bank") is not None:
                    supcon.bank_z, supcon.bank_y = state["bank"]
        bar = _progress_bar(progress and rank == 0, spec.name, t.epochs)
        stop = t.epochs if max_epochs is None else min(t.epochs, max_epochs)
        epoch = start
        for epoch in range(start, stop):
            if epoch - best_epoch > t.patience and best_epoch >= 0:
                break
            net.train()
            order = train_rows[torch.randperm(len(train_rows), generator=generator).numpy()]
            losses = []
            for b0 in range(0, len(order), t.batch_size):
                rows = np.sort(order[b0:b0 + t.batch_size])
                if len(rows) < 2:
                    continue
                x = augment_batch(torch.from_numpy(crops.images[rows]), spec.augment, generator)
                rows_x = slice(rank, None, world)
                x = x[rows_x].to(device)
                target = torch.from_numpy(y[rows][rows_x]).to(device)
                present = torch.from_numpy(crops.present[rows][rows_x]).to(device)
                cvec = None if clin is None else torch.from_numpy(clin[rows][rows_x]).to(device)

                closure = partial(_batch_loss, net, main_loss, supcon, t.supcon_weight, x, present,
                                  cvec, target, device.type, amp)
                optim.zero_grad()
                loss = closure()
                if isinstance(optim, SAM):
                    optim.first_step(zero_grad=True)
                    closure(update_bank=False)
                    optim.second_step(zero_grad=True)
                else:
                    optim.step()
                losses.append(float(loss.detach()))
            schedule.step()
            prob = predict_crops(model, crops.subset(val_rows),
                                 None if clin is None else clin[val_rows], device=device)
            lesion_keys, lesion_prob = lesion_probabilities(crops.meta.iloc[val_rows], prob,
                                                            spec.lesion_aggregation)
            lesion_y = _lesion_labels(crops.meta.iloc[val_rows], y[val_rows], lesion_keys)
            val_auc = auc_score(lesion_y, lesion_prob)
            val_loss = float(-np.mean(np.log(np.clip(
                lesion_prob[np.arange(len(lesion_y)), lesion_y], 1e-7, 1.0))))
            history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else 0.0,
                            "val_auc": val_auc, "val_loss": val_loss,
                            "lr": float(schedule.get_last_lr()[0])})
            score = -np.inf if np.isnan(val_auc) else val_auc
            # ties in validation AUC (small validation sets) go to the lower validation loss
            if (score, -val_loss) > (best_auc, -best_loss) or best_epoch < 0:
                best_auc, best_loss, best_epoch = score, val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            if ckpt is not None and rank == 0:
                ckpt.mkdir(parents=True, exist_ok=True)
                _save(ckpt / "last.pt", {
                    "key": key, "epoch": epoch, "model": model.state_dict(),
                    "optimizer": base.state_dict(), "schedule": schedule.state_dict(),
                    "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                    "history": history, "best_auc": best_auc, "best_loss": best_loss,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                    "bank": None if supcon is None or supcon.bank_z is None
                    else (supcon.bank_z, supcon.bank_y)})
                if best_epoch == epoch:
                    _save(ckpt / "best.pt", {"key": key, "epoch": epoch, "model": best_state})
            if bar is not None:
                bar[0].update(bar[1], advance=1, description=f"{spec.name} val AUC {val_auc:.3f}")
        if bar is not None:
            bar[0].stop()
        model.load_state_dict(best_state)
        if world > 1:  # batch-norm statistics differ per process: take rank 0's everywhere
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        model.to("cpu").eval()
        val_prob = predict_crops(model, crops.subset(val_rows),
                                 None if clin is None else clin[val_rows])
    return TrainResult(model, best_epoch, float(best_auc), history, val_rows, val_prob, mean, std,
                       {"train_rows": len(train_rows), "device": str(device), "amp": amp,
                        "world_size": world})


def _batch_loss(net: torch.nn.Module, main_loss: torch.nn.Module,
                supcon: AsymmetricSupConLoss | None, supcon_weight: float, x: torch.Tensor,
                present: torch.Tensor, clinical: torch.Tensor | None, target: torch.Tensor,
                device_type: str, amp: bool, update_bank: bool = True) -> torch.Tensor:
    """Forward, loss and backward of one batch (called twice per step by SAM)."""
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        logits, emb = net(x, present, clinical, with_embedding=True)
        loss = main_loss(logits.float(), target)
        if supcon is not None:
            loss = loss + supcon_weight * supcon(emb, target, update_bank)
    loss.backward()
    return loss


def _lesion_labels(meta: Any, y: np.ndarray, keys: Any) -> np.ndarray:
    """The label of every lesion in ``keys`` (from its crops)."""
    lookup = dict(zip(zip(meta["patient_id"].astype(str), meta["lesion_id"].astype(str),
                          strict=True), y, strict=True))
    return np.array([lookup[(p, lesion)] for p, lesion in
                     zip(keys["patient_id"], keys["lesion_id"], strict=True)], dtype=int)


def _progress_bar(enabled: bool, name: str, total: int) -> tuple[Any, Any] | None:
    """A rich progress bar over epochs (None when disabled)."""
    if not enabled:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(name, total=total)
    bar.start()
    return bar, task
