"""What the three training loops share (the crop CNN, ``deep.train``; the multi-phase network,
``deep.multiphase.train``; the segmenter, ``segment.monai_model``): CPU threads, seeding and
determinism, AdamW (or SAM around it) with its schedule, one optimiser step, the non-finite step
guard, and the optimiser / schedule / RNG state of a resumable checkpoint."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from livermets._atomic import atomic_path
from livermets.errors import ConfigError, DataError
from livermets.nn.sam import SAM

SCHEDULES = ("cosine", "constant", "poly")


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads (unchanged when None), then restore."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seed torch and use deterministic algorithms inside the block (restored afterwards), with
    ``threads`` torch CPU threads (unchanged when None)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch_threads(threads or None):
            yield
    finally:
        torch.use_deterministic_algorithms(before)


def adamw(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
          sam_rho: float | None = None, fused: bool = False) -> torch.optim.Optimizer:
    """AdamW, or SAM around AdamW when ``sam_rho`` is given; ``fused``: the fused AdamW kernel
    (one pass over the parameters; CPU and CUDA)."""
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if fused:
        kwargs["fused"] = True
    if sam_rho is not None:
        return SAM(params, torch.optim.AdamW, rho=sam_rho, **kwargs)
    return torch.optim.AdamW(params, **kwargs)


def base_optimizer(optim: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimiser that holds the state and takes the steps (SAM's base, or ``optim``)."""
    return optim.base_optimizer if isinstance(optim, SAM) else optim


def make_schedule(optim: torch.optim.Optimizer, kind: str,
                  total: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule over ``total`` steps of ``schedule.step()``: ``cosine``
    annealing, ``constant``, or nnU-Net's ``poly`` decay ``(1 - step / total) ** 0.9``."""
    base = base_optimizer(optim)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(base, T_max=total)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(base, lambda step: 1.0)
    if kind == "poly":
        return torch.optim.lr_scheduler.LambdaLR(base, lambda step: (1 - step / total) ** 0.9)
    raise ConfigError(f"unknown learning-rate schedule {kind!r}: use one of {SCHEDULES}.")


def optimizer_step(optim: torch.optim.Optimizer, again: Callable[[], bool]) -> bool:
    """Step on the gradients of the last backward pass. SAM takes two steps: ``again``
    recomputes loss and gradients at the perturbed weights and says whether they are finite (if
    not, the weights are put back and no step is taken: False)."""
    if not isinstance(optim, SAM):
        optim.step()
        return True
    optim.first_step(zero_grad=True)
    if not again():
        optim.restore()
        return False
    optim.second_step(zero_grad=True)
    return True


def finite_step(loss: torch.Tensor, net: torch.nn.Module) -> bool:
    """Whether ``loss`` and every gradient of ``net`` are finite.

    oneDNN's bfloat16 weight gradient of a 3x3 convolution on 1x1 maps (16-px crops at ResNet's
    last stage) gives NaN now and then on AMX CPUs, and on some machines at every step: the crop
    CNN's loop then redoes the step and trains on in float32 (``extra["precision_fallback"]``
    says where). A step still non-finite is skipped rather than taken (as AMP's gradient scaler
    does): one such step would make every weight NaN.
    """
    norms = [p.grad.norm() for p in net.parameters() if p.grad is not None]
    total = torch.stack(norms).sum() if norms else torch.zeros(())
    return bool(torch.isfinite(loss.detach()) and torch.isfinite(total))


def save_buffers(model: torch.nn.Module) -> list[torch.Tensor]:
    """Copies of the buffers (batch-norm running statistics) before a step that may be undone."""
    return [b.detach().clone() for b in model.buffers()]


def restore_buffers(model: torch.nn.Module, saved: list[torch.Tensor]) -> None:
    """Put back the buffers saved by ``save_buffers`` before a non-finite step."""
    with torch.no_grad():
        for buffer, value in zip(model.buffers(), saved, strict=True):
            buffer.copy_(value)


def check_finite(loss: float, iteration: int, fix: str) -> float:
    """``loss``, or a ``DataError`` that training diverged at ``iteration`` and how to fix it."""
    if not math.isfinite(loss):
        raise DataError(f"training diverged (loss {loss}) at iteration {iteration}; {fix}.")
    return loss


def training_state(model: torch.nn.Module, optim: torch.optim.Optimizer,
                   schedule: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    """What a resumable checkpoint holds of every loop: weights, optimiser, schedule, torch RNG
    (keys ``model``, ``optimizer``, ``schedule``, ``torch_rng``)."""
    return {"model": model.state_dict(), "optimizer": base_optimizer(optim).state_dict(),
            "schedule": schedule.state_dict(), "torch_rng": torch.get_rng_state()}


def restore_training_state(state: dict[str, Any], model: torch.nn.Module,
                           optim: torch.optim.Optimizer,
                           schedule: torch.optim.lr_scheduler.LRScheduler) -> None:
    """Load what ``training_state`` saved back into the model, optimiser, schedule and RNG."""
    model.load_state_dict(state["model"])
    base_optimizer(optim).load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["torch_rng"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """``torch.save`` of ``payload``, atomically (a temporary file, then a rename)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path
