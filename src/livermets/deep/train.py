"""Training of a lesion CNN on cached crops: grouped inner validation split, early stopping on
validation AUC, cosine schedule, AdamW or SAM, checkpoints and resume, seeded and deterministic."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from livermets._progress import StepProgress, callback_or_none
from livermets.deep.aggregate import lesion_probabilities
from livermets.deep.augment import augment_batch
from livermets.deep.config import DeepModelSpec, TrainSettings
from livermets.deep.crops import CropSet
from livermets.deep.losses import (
    AsymmetricSupConLoss,
    FocalLoss,
    WeightedCrossEntropy,
    balanced_class_weights,
)
from livermets.deep.networks import LesionNet, load_weights
from livermets.errors import ConfigError, DataError
from livermets.nn.training import (
    adamw,
    deterministic,
    finite_step,
    make_schedule,
    optimizer_step,
    restore_buffers,
    restore_training_state,
    save_buffers,
    save_checkpoint,
    training_state,
)


def select_device(preference: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for ``auto``; an explicit choice must be available."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (preference == "cuda" and not cuda) or (preference == "mps" and not mps):
        raise ConfigError(f"train.device {preference} is not available here; use auto or cpu.")
    return torch.device(preference)


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); else it is emulated."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: str, device: torch.device, amp: bool = True) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bfloat16 autocast where the device computes it natively
    (CUDA with bf16 support, CPUs with AVX512-BF16 / AMX), else float32; ``amp`` False: float32."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"train.precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision
    if not amp:
        return "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


@dataclass(frozen=True)
class Numerics:
    """How a network computes: autocast dtype (``fp32`` / ``bf16``) and memory format.

    Weights stay float32 (autocast casts per operation); ``channels_last`` (NHWC) applies to 2D
    models on CPU and CUDA, whose convolutions oneDNN and cuDNN run faster in that layout.
    """

    device_type: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False

    @classmethod
    def of(cls, train: TrainSettings, device: torch.device, spatial_dims: int) -> Numerics:
        """The numerics of ``train`` settings on ``device`` for a 2D or 3D model."""
        return cls(device.type, resolve_precision(train.precision, device, train.amp),
                   train.channels_last and spatial_dims == 2 and device.type in ("cpu", "cuda"))

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of this precision (a no-op for fp32)."""
        return torch.autocast(self.device_type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    def model(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in this memory format (in place)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in this memory format."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x


def fuse_for_inference(model: LesionNet) -> LesionNet:
    """An evaluation copy of ``model`` with every convolution that feeds only a batch norm fused
    with it into one convolution (same outputs up to rounding; one pass less over the maps)."""
    model.feature_map = None  # the last forward's maps (kept for Grad-CAM) are not copied
    fused = copy.deepcopy(model).eval()
    fused.encoder.body = _fuse_conv_bn(fused.encoder.body)
    return fused


def _fuse_conv_bn(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` traced with torch.fx, each conv -> batch-norm pair replaced by one conv."""
    from torch import fx
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    traced = fx.symbolic_trace(module)
    modules = dict(traced.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    for node in list(traced.graph.nodes):
        conv = node.args[0] if node.op == "call_module" and node.args else None
        if (not isinstance(modules.get(node.target), _BatchNorm)
                or not isinstance(conv, fx.Node) or conv.op != "call_module"
                or not isinstance(modules[conv.target], torch.nn.Conv2d | torch.nn.Conv3d)
                or len(conv.users) != 1 or calls[conv.target] != 1
                or modules[node.target].running_mean is None):
            continue
        traced.add_submodule(conv.target, fuse_conv_bn_eval(modules[conv.target],
                                                             modules[node.target]))
        node.replace_all_uses_with(conv)
        traced.graph.erase_node(node)
    traced.graph.lint()
    traced.delete_all_unused_submodules()
    traced.recompile()
    return traced


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
    numerics: Numerics = field(default_factory=Numerics)


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
                  batch_size: int = 128, device: torch.device | None = None,
                  numerics: Numerics | None = None, fuse: bool = False) -> np.ndarray:
    """Softmax class probabilities of every crop.

    ``numerics`` (default: float32, default memory format) sets autocast and memory format (of
    ``model`` too, in place); ``fuse`` folds batch norm into the convolutions of an evaluation
    copy first (5-8% faster per crop, after 0.2-0.4 s to copy and trace: for whole cohorts).
    """
    device = device or torch.device("cpu")
    numerics = numerics or Numerics(device.type)
    model.eval()
    if fuse and isinstance(model, LesionNet):
        model = fuse_for_inference(model)
    numerics.model(model)
    out = []
    with torch.inference_mode(), numerics.autocast():
        for start in range(0, len(crops), batch_size):
            sl = slice(start, start + batch_size)
            x = numerics.inputs(torch.from_numpy(crops.images[sl]).to(device))
            present = torch.from_numpy(crops.present[sl]).to(device)
            clin = None if clinical is None else torch.from_numpy(clinical[sl]).float().to(device)
            out.append(torch.softmax(model(x, present, clin).float(), 1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def embed_crops(model: LesionNet, crops: CropSet, clinical: np.ndarray | None = None,
                batch_size: int = 128, numerics: Numerics | None = None) -> np.ndarray:
    """Penultimate-layer embedding of every crop (float32; autocast per ``numerics``)."""
    numerics = numerics or Numerics()
    model.eval()
    numerics.model(model)
    out = []
    with torch.inference_mode(), numerics.autocast():
        for start in range(0, len(crops), batch_size):
            sl = slice(start, start + batch_size)
            clin = None if clinical is None else torch.from_numpy(clinical[sl]).float()
            x = numerics.inputs(torch.from_numpy(crops.images[sl]))
            out.append(model.embed(x, torch.from_numpy(crops.present[sl]), clin).float().numpy())
    return np.concatenate(out)


def make_optimizer(params: list[torch.nn.Parameter], train: TrainSettings,
                   device: torch.device) -> torch.optim.Optimizer:
    """AdamW (or SAM around AdamW), with the fused AdamW kernel on CPU and CUDA: one pass over
    the parameters (DenseNet-121 on one CPU thread: 14 instead of 44 ms per step)."""
    return adamw(params, train.lr, train.weight_decay,
                 train.sam_rho if train.optimizer == "sam" else None,
                 fused=device.type in ("cpu", "cuda"))


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


def train_lesion_model(crops: CropSet, y: np.ndarray, classes: list[Any], spec: DeepModelSpec,
                       seed: int = 0, clinical: np.ndarray | None = None,
                       checkpoint_dir: str | Path | None = None, resume: bool = True,
                       progress: StepProgress | None = None, max_epochs: int | None = None
                       ) -> TrainResult:
    """Train on ``crops`` (crop labels ``y``, encoded 0..K-1) with a patient-grouped validation.

    The validation patients are taken from the given crops only, so pass the training fold:
    the test fold is never seen. ``max_epochs`` stops early (to test resuming).
    ``progress(epoch, epochs, record)`` is called after every epoch (1-based; in rank 0 only)
    with that epoch's ``history`` record (loss, val_auc, val_loss, lr).
    """
    import torch.distributed as dist

    progress = callback_or_none(progress, "train_lesion_model")
    t = spec.train
    n_classes = len(classes)
    y = np.asarray(y, dtype=int)
    groups = crops.meta["patient_id"].astype(str).to_numpy()
    train_rows, val_rows = grouped_validation_split(y, groups, t.val_fraction, seed)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    device = select_device(t.device) if world == 1 else torch.device("cpu")
    numerics = Numerics.of(t, device, 3 if spec.crops.mode == "3d" else 2)
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
        numerics.model(model.to(device))
        net: torch.nn.Module = model
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(model)
        main_loss, supcon = _loss_fns(spec, y[train_rows], n_classes, classes)
        main_loss.to(device)
        optim = make_optimizer([p for p in net.parameters() if p.requires_grad], t, device)
        schedule = make_schedule(optim, t.schedule, t.epochs)
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
                restore_training_state(state, model, optim, schedule)
                generator.set_state(state["generator"])
                history, best_auc = state["history"], state["best_auc"]
                best_loss = state["best_loss"]
                best_epoch, best_state = state["best_epoch"], state["best_state"]
                start = state["epoch"] + 1
                if supcon is not None and state.get("bank") is not None:
                    supcon.bank_z, supcon.bank_y = state["bank"]
        fallback: dict[str, int] | None = None  # where bfloat16 training fell back to float32
        stop = t.epochs if max_epochs is None else min(t.epochs, max_epochs)
        epoch = start
        for epoch in range(start, stop):
            if epoch - best_epoch > t.patience and best_epoch >= 0:
                break
            net.train()
            order = train_rows[torch.randperm(len(train_rows), generator=generator).numpy()]
            losses: list[float] = []
            skipped = 0
            for b0 in range(0, len(order), t.batch_size):
                rows = np.sort(order[b0:b0 + t.batch_size])
                if len(rows) < 2:
                    continue
                x = augment_batch(torch.from_numpy(crops.images[rows]), spec.augment, generator)
                rows_x = slice(rank, None, world)
                x = numerics.inputs(x[rows_x].to(device))
                target = torch.from_numpy(y[rows][rows_x]).to(device)
                present = torch.from_numpy(crops.present[rows][rows_x]).to(device)
                cvec = None if clin is None else torch.from_numpy(clin[rows][rows_x]).to(device)

                closure = partial(batch_loss, net, main_loss, supcon, t.supcon_weight, x, present,
                                  cvec, target, numerics)
                optim.zero_grad()
                saved = save_buffers(model)  # batch-norm statistics
                loss = closure()
                if not finite_step(loss, net) and numerics.precision == "bf16":
                    restore_buffers(model, saved)
                    # bfloat16 gave NaN / inf: train on in float32 from this step (see finite_step)
                    numerics = dataclasses.replace(numerics, precision="fp32")
                    fallback = {"epoch": epoch, "step": b0 // t.batch_size}
                    closure = partial(batch_loss, net, main_loss, supcon, t.supcon_weight, x,
                                      present, cvec, target, numerics)
                    optim.zero_grad()
                    loss = closure()
                if not finite_step(loss, net):
                    restore_buffers(model, saved)
                    optim.zero_grad()
                    skipped += 1
                    continue
                # SAM's second pass: at the perturbed weights, not updating the memory bank
                if not optimizer_step(optim, partial(_second_pass, closure, net)):
                    restore_buffers(model, saved)
                    optim.zero_grad()
                    skipped += 1
                    continue
                losses.append(float(loss.detach()))
            schedule.step()
            prob = predict_crops(model, crops.subset(val_rows),
                                 None if clin is None else clin[val_rows], device=device,
                                 numerics=numerics)
            lesion_keys, lesion_prob = lesion_probabilities(crops.meta.iloc[val_rows], prob,
                                                            spec.lesion_aggregation)
            lesion_y = _lesion_labels(crops.meta.iloc[val_rows], y[val_rows], lesion_keys)
            val_auc = auc_score(lesion_y, lesion_prob)
            val_loss = float(-np.mean(np.log(np.clip(
                lesion_prob[np.arange(len(lesion_y)), lesion_y], 1e-7, 1.0))))
            if skipped and not losses:
                raise ConfigError(
                    f"{spec.name}: every step of epoch {epoch + 1} had a non-finite loss or "
                    "gradient, also in float32: set a lower train.lr, or larger crops "
                    "(crops.size), or check the images for NaN / inf values.")
            history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else 0.0,
                            "skipped_steps": float(skipped),
                            "val_auc": val_auc, "val_loss": val_loss,
                            "lr": float(schedule.get_last_lr()[0])})
            score = -np.inf if np.isnan(val_auc) else val_auc
            # ties in validation AUC (small validation sets) go to the lower validation loss
            if (score, -val_loss) > (best_auc, -best_loss) or best_epoch < 0:
                best_auc, best_loss, best_epoch = score, val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            if ckpt is not None and rank == 0:
                ckpt.mkdir(parents=True, exist_ok=True)
                save_checkpoint(ckpt / "last.pt", {
                    "key": key, "epoch": epoch, **training_state(model, optim, schedule),
                    "generator": generator.get_state(),
                    "history": history, "best_auc": best_auc, "best_loss": best_loss,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                    "bank": None if supcon is None or supcon.bank_z is None
                    else (supcon.bank_z, supcon.bank_y)})
                if best_epoch == epoch:
                    save_checkpoint(ckpt / "best.pt",
                                    {"key": key, "epoch": epoch, "model": best_state})
            if progress is not None and rank == 0:
                progress(epoch + 1, t.epochs, dict(history[-1]))
        model.load_state_dict(best_state)
        if world > 1:  # batch-norm statistics differ per process: take rank 0's everywhere
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        model.to("cpu").eval()
        on_cpu = Numerics.of(t, torch.device("cpu"), 3 if spec.crops.mode == "3d" else 2)
        val_prob = predict_crops(model, crops.subset(val_rows),
                                 None if clin is None else clin[val_rows], numerics=on_cpu)
    return TrainResult(model, best_epoch, float(best_auc), history, val_rows, val_prob, mean, std,
                       {"train_rows": len(train_rows), "device": str(device),
                        "amp": numerics.precision == "bf16", "precision": numerics.precision,
                        "precision_fallback": fallback,
                        "channels_last": numerics.channels_last, "world_size": world},
                       on_cpu)


def _second_pass(closure: Callable[..., torch.Tensor], net: torch.nn.Module) -> bool:
    """SAM's second forward and backward (memory bank not updated); whether it is finite."""
    return finite_step(closure(update_bank=False), net)


def batch_loss(net: torch.nn.Module, main_loss: torch.nn.Module,
                supcon: AsymmetricSupConLoss | None, supcon_weight: float, x: torch.Tensor,
                present: torch.Tensor, clinical: torch.Tensor | None, target: torch.Tensor,
                numerics: Numerics, update_bank: bool = True) -> torch.Tensor:
    """Forward, loss and backward of one batch (called twice per step by SAM)."""
    with numerics.autocast():
        logits, emb = net(x, present, clinical, with_embedding=True)
    loss = main_loss(logits.float(), target)  # losses in float32 whatever the autocast
    if supcon is not None:
        loss = loss + supcon_weight * supcon(emb.float(), target, update_bank)
    loss.backward()
    return loss


def _lesion_labels(meta: Any, y: np.ndarray, keys: Any) -> np.ndarray:
    """The label of every lesion in ``keys`` (from its crops)."""
    lookup = dict(zip(zip(meta["patient_id"].astype(str), meta["lesion_id"].astype(str),
                          strict=True), y, strict=True))
    return np.array([lookup[(p, lesion)] for p, lesion in
                     zip(keys["patient_id"], keys["lesion_id"], strict=True)], dtype=int)

