"""Patch training of the multi-phase network: Dice + CE on voxels, focal loss on the lesion head,
asymmetric supervised contrastive loss on lesion embeddings, BCE on the patient head; AdamW or
SAM, cosine schedule, random delayed-phase dropout, seeded and deterministic on CPU, atomic
checkpoints (``model.pt`` + ``model.json``) and resume from the last one.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from livermets import __version__
from livermets._atomic import write_text
from livermets._progress import StepProgress
from livermets.deep.losses import AsymmetricSupConLoss, FocalLoss
from livermets.deep.multiphase.config import N_TISSUE, MultiphaseSettings, make_settings
from livermets.deep.multiphase.data import MultiphaseCase
from livermets.deep.multiphase.network import MultiPhaseSegNet
from livermets.errors import ConfigError, DataError, InputFileError
from livermets.nn.intensity import Intensity
from livermets.nn.training import (
    adamw,
    check_finite,
    deterministic,
    make_schedule,
    optimizer_step,
    restore_training_state,
    save_checkpoint,
    training_state,
)

MODEL_FILE = "model.pt"
CONFIG_FILE = "model.json"
# /2: lesion-intensity head, hierarchical decision and lesion-based patient probabilities;
# /1 models were saved with settings whose defaults have changed meaning: retrain them
FORMAT = "livermets-multiphase/2"
TrainProgress = StepProgress  # progress(iteration, iterations, record of its losses)


@dataclass
class TrainResult:
    """A trained network, its per-iteration losses and where it was saved."""

    model: MultiPhaseSegNet
    history: list[dict[str, float]]
    checkpoint: Path
    config: Path
    intensity: Intensity
    resumed_from: int
    seconds: float


# ---------------------------------------------------------------- patches


def _foreground(case: MultiphaseCase, rng: np.random.Generator, label: int | None = None
                ) -> np.ndarray:
    """Lesion voxel indices of a case, or those of one label (at most 20000, drawn at random)."""
    mask = case.labels >= N_TISSUE if label is None else case.labels == label  # type: ignore[operator]
    idx = np.argwhere(mask)
    if len(idx) > 20000:
        idx = idx[np.sort(rng.choice(len(idx), 20000, replace=False))]
    return idx


def patch_start(shape: Sequence[int], patch: Sequence[int], rng: np.random.Generator,
                centre: np.ndarray | None) -> np.ndarray:
    """Corner of a patch: random, or around ``centre`` (jittered by a quarter patch)."""
    shape_a, patch_a = np.asarray(shape), np.asarray(patch)
    if centre is not None:
        start = centre - patch_a // 2 + rng.integers(-(patch_a // 4), patch_a // 4 + 1)
    else:
        start = np.array([rng.integers(min(0, s - p), max(0, s - p) + 1)
                          for s, p in zip(shape_a, patch_a, strict=True)])
    return np.clip(start, np.minimum(0, shape_a - patch_a), np.maximum(0, shape_a - patch_a))


def crop(array: np.ndarray, start: Sequence[int], patch: Sequence[int],
         fill: float | np.ndarray = 0) -> np.ndarray:
    """The patch of ``array`` (leading axes kept) at ``start``, padded with ``fill`` outside."""
    lead = array.shape[:-3]
    out = np.empty((*lead, *patch), dtype=array.dtype)
    out[...] = np.asarray(fill, dtype=array.dtype).reshape(*lead, 1, 1, 1) if lead else fill
    src = tuple(slice(max(0, a), min(s, a + p))
                for a, s, p in zip(start, array.shape[-3:], patch, strict=True))
    dst = tuple(slice(sl.start - a, sl.stop - a) for sl, a in zip(src, start, strict=True))
    out[(Ellipsis, *dst)] = array[(Ellipsis, *src)]
    return out


@dataclass
class Batch:
    """One training batch as tensors, with the class of every instance in it."""

    x: torch.Tensor  # [B, P, Z, Y, X]
    present: torch.Tensor  # [B, P] bool
    labels: torch.Tensor  # [B, 1, Z, Y, X] long
    instances: torch.Tensor  # [B, Z, Y, X] long
    patient_targets: torch.Tensor  # [B, C]
    instance_classes: list[dict[int, int]]  # per batch item: instance id -> class index


class PatchSampler:
    """Random (foreground-oversampled) patches with random delayed-phase dropout and flips.

    A foreground patch is centred on a lesion voxel. Class-balanced (``class_balanced``): a lesion
    class is drawn uniformly among those of the training cases, then a case holding it, then one
    of its voxels, so a class with one small lesion is seen as often as the commonest one;
    otherwise a random case and any of its lesion voxels.
    """

    def __init__(self, cases: Sequence[MultiphaseCase], settings: MultiphaseSettings,
                 rng: np.random.Generator) -> None:
        self.cases, self.settings, self.rng = list(cases), settings, rng
        pick = np.random.default_rng(settings.seed)  # not ``rng``: resuming must not shift it
        self.foreground = [_foreground(c, pick) for c in self.cases]
        self.by_class: dict[int, list[tuple[int, np.ndarray]]] = {}
        if settings.class_balanced:
            for i, case in enumerate(self.cases):
                for label in np.unique(case.labels[case.labels >= N_TISSUE]):  # type: ignore[index]
                    self.by_class.setdefault(int(label), []).append(
                        (i, _foreground(case, pick, int(label))))
        self.fill = [c.image.reshape(c.image.shape[0], -1).min(axis=1) for c in self.cases]
        phases = list(settings.phases)
        self.delayed = phases.index("delayed") if "delayed" in phases else None

    def sample(self, i: int, foreground: bool | np.ndarray) -> tuple[np.ndarray, ...]:
        """(image, present, labels, instances) of one patch of case ``i`` (``foreground``: a
        random lesion voxel as centre, or the given centre voxel)."""
        case, fg, rng = self.cases[i], self.foreground[i], self.rng
        if isinstance(foreground, np.ndarray):
            centre: np.ndarray | None = foreground
        else:
            centre = fg[rng.integers(len(fg))] if foreground and len(fg) else None
        patch = self.settings.patch_zyx
        start = patch_start(case.shape, patch, rng, centre)
        image = crop(case.image, start, patch, self.fill[i])
        present = case.present.copy()
        if (self.delayed is not None and present[self.delayed]
                and rng.random() < self.settings.drop_delayed_prob):
            present[self.delayed] = False
            image[self.delayed] = 0.0
        labels = crop(case.labels, start, patch)  # type: ignore[arg-type]
        instances = crop(case.instances, start, patch)  # type: ignore[arg-type]
        if self.settings.flip_prob > 0:
            axes = [a for a in (-3, -2, -1) if rng.random() < self.settings.flip_prob]
            if axes:
                image, labels, instances = (np.ascontiguousarray(np.flip(a, axis=axes))
                                            for a in (image, labels, instances))
        return image, present, labels, instances

    def _pick(self) -> tuple[int, bool | np.ndarray]:
        """A case and what to centre its patch on."""
        rng = self.rng
        foreground = bool(rng.random() < self.settings.foreground_prob)
        if foreground and self.by_class:
            labels = sorted(self.by_class)
            holders = self.by_class[labels[int(rng.integers(len(labels)))]]
            case, voxels = holders[int(rng.integers(len(holders)))]
            return case, voxels[rng.integers(len(voxels))]
        return int(rng.integers(len(self.cases))), foreground

    def batch(self) -> Batch:
        """A batch of ``settings.batch_size`` patches from random cases."""
        items, classes, targets = [], [], []
        names = list(self.settings.classes)
        for _ in range(self.settings.batch_size):
            case, centre = self._pick()
            items.append(self.sample(case, centre))
            mapping = self.cases[case].instance_classes
            classes.append({k: names.index(v) for k, v in mapping.items()})
            targets.append(self.cases[case].class_targets(names))
        image, present, labels, instances = (np.stack(a) for a in zip(*items, strict=True))
        return Batch(torch.from_numpy(image), torch.from_numpy(present),
                     torch.from_numpy(labels.astype(np.int64))[:, None],
                     torch.from_numpy(instances.astype(np.int64)),
                     torch.from_numpy(np.stack(targets)), classes)


# ---------------------------------------------------------------- losses


def _soft_dice(prob: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - soft Dice over the whole batch (batch Dice)."""
    inter = (prob * target).sum()
    return 1 - (2 * inter + smooth) / (prob.sum() + target.sum() + smooth)


class LesionDiceCELoss:
    """Cross-entropy (lesion classes weighted ``lesion_weight``) plus the mean of batch soft-Dice
    terms: liver with its lesions (labels >= 1), lesion vs rest (summed lesion-class
    probability), and the mean over the lesion classes present in the batch.

    Unlike a Dice over all 2 + C channels, a lesion class absent from the batch adds no Dice term
    (the plain batch Dice scores it ~0 whatever the network does and drives every lesion
    probability down), and the binary lesion term rewards finding a lesion before naming its
    class, matching the hierarchical decision at inference.
    """

    def __init__(self, n_outputs: int, lesion_weight: float = 1.0) -> None:
        self.weight = torch.ones(n_outputs)
        self.weight[N_TISSUE:] = lesion_weight

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        y = labels[:, 0].long()
        ce = F.cross_entropy(logits, y, weight=self.weight.to(logits.device, logits.dtype))
        probs = torch.softmax(logits, dim=1)
        terms = [_soft_dice(probs[:, 1:].sum(1), (y >= 1).to(probs.dtype))]
        lesion = y >= N_TISSUE
        if lesion.any():
            terms.append(_soft_dice(probs[:, N_TISSUE:].sum(1), lesion.to(probs.dtype)))
            present = torch.unique(y[lesion]).tolist()
            terms.append(torch.stack([_soft_dice(probs[:, k], (y == k).to(probs.dtype))
                                      for k in present]).mean())
        return ce + torch.stack(terms).mean()


class MultiphaseLoss:
    """Weighted sum of the four loss terms of one batch."""

    def __init__(self, settings: MultiphaseSettings) -> None:
        from monai.losses import DiceCELoss

        self.weights = settings.loss_weights
        self.dice_ce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = (
            DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
            if settings.seg_loss == "dice_ce"
            else LesionDiceCELoss(settings.n_outputs, settings.lesion_ce_weight))
        self.focal = FocalLoss(settings.focal_gamma)
        other = [settings.classes.index(c) for c in settings.other_classes]
        self.supcon = AsymmetricSupConLoss(settings.contrastive_temperature, other,
                                           settings.memory_size)

    def __call__(self, model: MultiPhaseSegNet, batch: Batch, update_bank: bool = True
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss (graph attached) and its parts."""
        out = model(batch.x, batch.present)
        dice_ce = self.dice_ce(out.voxel_logits, batch.labels)
        patient = F.binary_cross_entropy_with_logits(out.patient_logits, batch.patient_targets)
        lesion = model.lesion_head(out.features, batch.instances, batch.x)
        zero = out.voxel_logits.sum() * 0.0
        focal = contrastive = zero
        if len(lesion.index):
            target = torch.tensor([batch.instance_classes[int(b)][int(k)]
                                   for b, k in lesion.index.tolist()], dtype=torch.long)
            focal = self.focal(lesion.logits, target)
            contrastive = self.supcon(lesion.embeddings, target, update_bank)
        w = self.weights
        total = (w.dice_ce * dice_ce + w.focal * focal + w.contrastive * contrastive
                 + w.patient * patient)
        named = {"loss": total, "dice_ce": dice_ce, "focal": focal, "contrastive": contrastive,
                 "patient": patient}
        parts = {k: float(v.detach()) + 0.0 for k, v in named.items()}  # + 0.0: no -0.0
        parts["lesions"] = float(len(lesion.index))
        return total, parts


# ---------------------------------------------------------------- checkpoints


def _check_cases(cases: Sequence[MultiphaseCase], settings: MultiphaseSettings) -> Intensity:
    """Every case is trainable and shares one intensity normalisation; that normalisation."""
    if not cases:
        raise DataError("no training cases: load some with load_cases(manifest, settings).")
    for case in cases:
        if case.labels is None or case.liver is None:
            raise DataError(f"patient {case.patient_id} has no lesion or liver mask: every "
                            "training patient needs both (manifest columns lesion_mask, "
                            "liver_mask).")
        if case.phases != tuple(settings.phases):
            raise DataError(f"patient {case.patient_id} was loaded with phases {case.phases} but "
                            f"the settings have {settings.phases}; load the cases with the same "
                            "settings.")
    if any(c.intensity != cases[0].intensity for c in cases):
        raise DataError("the training cases were normalised differently: load them in one "
                        "load_cases call (or with the same intensity=).")
    return cases[0].intensity


def _fingerprint(settings: MultiphaseSettings, cases: Sequence[MultiphaseCase],
                 intensity: Intensity) -> str:
    """What a resumable checkpoint must match: settings, patients, normalisation."""
    config = settings.model_dump(mode="json", exclude={"threads", "checkpoint_every"})
    payload = [config, [(c.patient_id, list(c.shape)) for c in cases], asdict(intensity)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _write_checkpoint(out: Path, state: dict[str, Any], settings: MultiphaseSettings,
                      intensity: Intensity, complete: bool) -> None:
    """Write ``model.pt`` then ``model.json``, each atomically."""
    save_checkpoint(out / MODEL_FILE, state)
    config = {
        "format": FORMAT, "settings": settings.model_dump(mode="json"),
        "classes": list(settings.classes), "phases": list(settings.phases),
        "intensity": asdict(intensity), "iteration": state["iteration"], "complete": complete,
        "key": state["key"], "final_loss": state["history"][-1]["loss"] if state["history"]
        else None,
        "versions": {"livermets": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }
    write_text(out / CONFIG_FILE, json.dumps(config, indent=2) + "\n")


def _read_files(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model.json, model.pt) of a model folder, or an ``InputFileError``."""
    config_path, weights = model_dir / CONFIG_FILE, model_dir / MODEL_FILE
    if not config_path.is_file() or not weights.is_file():
        raise InputFileError(
            f"{model_dir} is not a multi-phase model folder: it needs {CONFIG_FILE} and "
            f"{MODEL_FILE}. Train one with train_multiphase (`livermets deep multiphase train`).")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputFileError(f"cannot read the model in {model_dir}: {exc}. Retrain it.") from None
    if config.get("format") != FORMAT:
        raise InputFileError(f"{config_path} is not a {FORMAT} model (format "
                             f"{config.get('format')!r}): it was saved by another livermets "
                             "version; retrain it with `livermets deep multiphase train`.")
    return config, state


def load_multiphase_model(model_dir: str | Path
                          ) -> tuple[MultiPhaseSegNet, MultiphaseSettings, Intensity]:
    """The trained network (eval mode), its settings and its intensity normalisation."""
    config, state = _read_files(Path(model_dir))
    settings = make_settings(config["settings"])
    model = MultiPhaseSegNet(settings)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:  # weights of another network layout than the settings say
        problems = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        first = problems[0] if problems else str(exc)
        raise InputFileError(f"the weights in {model_dir} do not fit its settings "
                             f"({len(problems)} tensors differ; first: {first}); retrain the "
                             "model with `livermets deep multiphase train`.") from None
    return model.eval(), settings, Intensity(**config["intensity"])


# ---------------------------------------------------------------- training


def _validation_loss(model: MultiPhaseSegNet, loss: MultiphaseLoss,
                     batches: Sequence[Batch]) -> float:
    """Mean Dice + CE on fixed validation patches."""
    model.eval()
    with torch.no_grad():
        values = [float(loss.dice_ce(model(b.x, b.present).voxel_logits, b.labels))
                  for b in batches]
    model.train()
    return float(np.mean(values))


def _validation_batches(cases: Sequence[MultiphaseCase] | None,
                        settings: MultiphaseSettings) -> list[Batch]:
    """One foreground-centred patch per validation case, all phases present (fixed seed)."""
    if not cases:
        return []
    fixed = settings.model_copy(update={"batch_size": 1, "drop_delayed_prob": 0.0,
                                        "foreground_prob": 1.0})
    _check_cases(cases, settings)
    out = []
    for i in range(len(cases)):
        sampler = PatchSampler([cases[i]], fixed, np.random.default_rng(settings.seed + 1))
        out.append(sampler.batch())
    return out


def _second_pass(loss: MultiphaseLoss, model: MultiPhaseSegNet, batch: Batch) -> bool:
    """SAM's second forward and backward (memory bank not updated)."""
    second, _ = loss(model, batch, update_bank=False)
    second.backward()
    return True


def train_multiphase(cases: Sequence[MultiphaseCase], settings: MultiphaseSettings,
                     out_dir: str | Path, *, validation: Sequence[MultiphaseCase] | None = None,
                     progress: TrainProgress | None = None) -> TrainResult:
    """Train on ``cases``; checkpoints in ``out_dir`` (resumed when they match these inputs).

    ``progress(iteration, total, record)`` is called after every iteration with its losses.
    """
    intensity = _check_cases(cases, settings)
    out = Path(out_dir)
    with deterministic(settings.seed, settings.threads):
        return _train(cases, settings, out, intensity, validation, progress)


def _train(cases: Sequence[MultiphaseCase], settings: MultiphaseSettings, out: Path,
           intensity: Intensity, validation: Sequence[MultiphaseCase] | None,
           progress: TrainProgress | None) -> TrainResult:
    started = time.perf_counter()
    key = _fingerprint(settings, cases, intensity)
    model = MultiPhaseSegNet(settings)
    optim = adamw(list(model.parameters()), settings.lr, settings.weight_decay,
                  settings.sam_rho if settings.use_sam else None)
    schedule = make_schedule(optim, "cosine", settings.iterations)
    rng = np.random.default_rng(settings.seed)
    loss = MultiphaseLoss(settings)
    history: list[dict[str, float]] = []
    start = 0
    if (out / MODEL_FILE).is_file():
        _, state = _read_files(out)
        if state.get("key") != key:
            raise ConfigError(
                f"{out} holds a multi-phase model trained with other settings, patients or "
                "normalisation; give another output folder or delete that one to retrain.")
        restore_training_state(state, model, optim, schedule)
        rng.bit_generator.state = json.loads(state["rng"])
        history, start = list(state["history"]), int(state["iteration"])
        if state.get("bank") is not None:
            loss.supcon.bank_z, loss.supcon.bank_y = state["bank"]
    sampler = PatchSampler(cases, settings, rng)
    val_batches = _validation_batches(validation, settings)
    model.train()
    for iteration in range(start + 1, settings.iterations + 1):
        batch = sampler.batch()
        optim.zero_grad(set_to_none=True)
        total, parts = loss(model, batch)
        total.backward()
        optimizer_step(optim, partial(_second_pass, loss, model, batch))
        schedule.step()
        check_finite(parts["loss"], iteration, "lower the learning rate (lr)")
        record = {"iteration": float(iteration), **parts, "lr": float(schedule.get_last_lr()[0])}
        last = iteration == settings.iterations
        checkpoint = iteration % settings.checkpoint_every == 0 or last
        if checkpoint and val_batches:
            record["val_dice_ce"] = _validation_loss(model, loss, val_batches)
        history.append(record)
        if checkpoint:
            _write_checkpoint(out, {
                "key": key, "iteration": iteration, **training_state(model, optim, schedule),
                "rng": json.dumps(rng.bit_generator.state),
                "history": history,
                "bank": None if loss.supcon.bank_z is None
                else (loss.supcon.bank_z, loss.supcon.bank_y)}, settings, intensity, last)
        if progress is not None:
            progress(iteration, settings.iterations, record)
    model.eval()
    return TrainResult(model, history, out / MODEL_FILE, out / CONFIG_FILE, intensity, start,
                       time.perf_counter() - started)
