"""Losses: cross-entropy with class weights, focal loss, asymmetric supervised contrastive loss."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def balanced_class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Weights n / (k * n_c) per class (1 for a class absent from ``y``)."""
    counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes).astype(float)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32)


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with optional per-class weights (weighted mean over the batch)."""

    def __init__(self, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``logits`` [B, K] against integer ``target`` [B]."""
        return F.cross_entropy(logits, target, weight=self.weight)


class FocalLoss(nn.Module):
    """Focal loss: batch mean of -alpha_y (1 - p_y)^gamma log p_y (MONAI's softmax form)."""

    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | None = None) -> None:
        super().__init__()
        from monai.losses import FocalLoss as MonaiFocalLoss

        self.gamma = gamma
        self.register_buffer("alpha", alpha if alpha is not None else None)
        # per-class terms, summed over classes here: MONAI's "mean" would also divide by K
        self.focal = MonaiFocalLoss(gamma=gamma, use_softmax=True, to_onehot_y=True,
                                    reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``logits`` [B, K] against integer ``target`` [B]."""
        per_class = self.focal(logits.float(), target[:, None])
        loss = per_class.sum(dim=1)
        if self.alpha is not None:
            loss = loss * self.alpha[target]
        return loss.mean()


class AsymmetricSupConLoss(nn.Module):
    """Supervised contrastive loss where a heterogeneous class is never an anchor or positive.

    Embeddings are L2-normalised. Every sample of a common class with at least one positive (same
    class, in the batch or the memory bank) is an anchor with loss
    ``-mean_p log(exp(z.z_p / t) / sum_{a != anchor} exp(z.z_a / t))``; samples of the ``other``
    classes only appear in the denominators, so they are pushed away from common classes but not
    pulled together. A FIFO memory bank of detached embeddings adds contrast beyond the batch.
    """

    def __init__(self, temperature: float = 0.1, other_classes: Sequence[int] = (),
                 memory_size: int = 0) -> None:
        super().__init__()
        self.temperature = temperature
        self.other = tuple(int(c) for c in other_classes)
        self.memory_size = memory_size
        self.bank_z: torch.Tensor | None = None
        self.bank_y: torch.Tensor | None = None

    def forward(self, embeddings: torch.Tensor, target: torch.Tensor,
                update_bank: bool = True) -> torch.Tensor:
        """Loss of ``embeddings`` [B, D] with labels ``target`` [B]; then updates the bank."""
        z = F.normalize(embeddings.float(), dim=1)
        keys, labels = z, target
        if self.bank_z is not None and len(self.bank_z):
            keys = torch.cat([z, self.bank_z.to(z.device)])
            labels = torch.cat([target, self.bank_y.to(target.device)])
        b = len(z)
        logits = z @ keys.T / self.temperature
        self_mask = torch.zeros_like(logits, dtype=torch.bool)
        self_mask[torch.arange(b), torch.arange(b)] = True
        logits = logits.masked_fill(self_mask, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        positive = (target[:, None] == labels[None, :]) & ~self_mask
        common = torch.ones(b, dtype=torch.bool, device=z.device)
        for c in self.other:
            common &= target != c
        n_pos = positive.sum(1)
        anchors = common & (n_pos > 0)
        if not anchors.any():
            loss = embeddings.sum() * 0.0
        else:
            pos_log = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(1)
            loss = -(pos_log[anchors] / n_pos[anchors]).mean()
        if update_bank:
            self._enqueue(z.detach(), target.detach())
        return loss

    def _enqueue(self, z: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch to the memory bank, dropping the oldest entries beyond ``memory_size``."""
        if self.memory_size <= 0:
            return
        if self.bank_z is None:
            self.bank_z, self.bank_y = z, y
        else:
            self.bank_z = torch.cat([z, self.bank_z])[: self.memory_size]
            self.bank_y = torch.cat([y, self.bank_y])[: self.memory_size]
        self.bank_z, self.bank_y = self.bank_z[: self.memory_size], self.bank_y[: self.memory_size]

    def reset(self) -> None:
        """Empty the memory bank."""
        self.bank_z = self.bank_y = None
