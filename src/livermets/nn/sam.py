"""Sharpness-aware minimisation (SAM) wrapping a base optimiser such as AdamW."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class SAM(torch.optim.Optimizer):
    """SAM (Foret et al. 2021): ascend to ``w + rho g/|g|``, take the gradient there, step from w.

    Use ``first_step`` after the first backward pass and ``second_step`` after the second, or
    ``step(closure)`` with a closure that recomputes the loss and calls ``backward``.
    """

    def __init__(self, params: Any, base: type[torch.optim.Optimizer] = torch.optim.AdamW,
                 rho: float = 0.05, **kwargs: Any) -> None:
        if rho <= 0:
            raise ValueError(f"SAM rho must be positive, got {rho}")
        super().__init__(params, dict(rho=rho, **kwargs))
        self.base_optimizer = base(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    def _grad_norm(self) -> torch.Tensor:
        norms = [p.grad.norm(2) for g in self.param_groups for p in g["params"]
                 if p.grad is not None]
        return torch.norm(torch.stack(norms), 2) if norms else torch.tensor(0.0)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = True) -> None:
        """Move every parameter to ``w + rho * g / |g|`` (remembering w)."""
        scale_base = self._grad_norm() + 1e-12
        for group in self.param_groups:
            scale = group["rho"] / scale_base
            for p in group["params"]:
                if p.grad is None:
                    continue
                e_w = p.grad * scale.to(p)
                p.add_(e_w)
                self.state[p]["e_w"] = e_w
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def restore(self) -> None:
        """Return every parameter to w (undo ``first_step``) without stepping."""
        for group in self.param_groups:
            for p in group["params"]:
                if "e_w" in self.state[p]:
                    p.sub_(self.state[p].pop("e_w"))

    @torch.no_grad()
    def second_step(self, zero_grad: bool = True) -> None:
        """Return to w and take the base optimiser's step with the perturbed gradient."""
        self.restore()
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Both steps; ``closure`` must compute the loss and call ``backward``."""
        if closure is None:
            raise ValueError("SAM.step needs a closure that recomputes the loss and backward()")
        closure = torch.enable_grad()(closure)
        self.first_step(zero_grad=True)
        loss = closure()
        self.second_step()
        return loss
