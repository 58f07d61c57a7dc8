"""Losses against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livermets.deep.losses import (
    AsymmetricSupConLoss,
    FocalLoss,
    WeightedCrossEntropy,
    balanced_class_weights,
)

LOGITS = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
TARGET = torch.tensor([0, 1, 0])


def _p(a: float, b: float) -> float:
    """Softmax probability of the first of two logits."""
    return math.exp(a) / (math.exp(a) + math.exp(b))


def test_balanced_weights():
    w = balanced_class_weights(np.array([0, 0, 0, 1]), 2)
    assert w.tolist() == pytest.approx([4 / 6, 2.0])


@pytest.mark.parametrize("weight", [None, (1.0, 3.0)])
def test_weighted_cross_entropy(weight):
    w = (1.0, 1.0) if weight is None else weight
    terms = [-math.log(_p(2, 0)) * w[0], -math.log(_p(1, 0)) * w[1], -math.log(0.5) * w[0]]
    expected = sum(terms) / (w[0] + w[1] + w[0])
    loss = WeightedCrossEntropy(None if weight is None else torch.tensor(weight))(LOGITS, TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("gamma,alpha", [(0.0, None), (2.0, None), (2.0, (0.25, 0.75))])
def test_focal(gamma, alpha):
    a = (1.0, 1.0) if alpha is None else alpha
    probs = [(_p(2, 0), 0), (_p(1, 0), 1), (0.5, 0)]
    expected = np.mean([-a[c] * (1 - p) ** gamma * math.log(p) for p, c in probs])
    loss = FocalLoss(gamma, None if alpha is None else torch.tensor(alpha))(LOGITS, TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_focal_gamma_zero_is_cross_entropy():
    assert FocalLoss(0.0)(LOGITS, TARGET).item() == pytest.approx(
        WeightedCrossEntropy()(LOGITS, TARGET).item(), rel=1e-6)


def test_supcon_hand_computed():
    # unit vectors at 0, 90 and 0 degrees; classes 0, 1, 0; temperature 1
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    y = torch.tensor([0, 1, 0])
    loss = AsymmetricSupConLoss(temperature=1.0)(z, y)
    # anchors 0 and 2 (class 1 has no positive): each has one positive at similarity 1 and one
    # negative at similarity 0 -> -log(e / (e + 1))
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 1)), rel=1e-6)


def test_supcon_other_class_is_never_an_anchor():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    y = torch.tensor([0, 0, 2, 2])  # class 2 = "other"
    asym = AsymmetricSupConLoss(temperature=0.5, other_classes=[2])(z, y)
    t = 0.5
    # anchors 0 and 1 only: positive sim 1, negatives sims 0 and 0.6
    denom = math.exp(1 / t) + math.exp(0) + math.exp(0.6 / t)
    assert asym.item() == pytest.approx(-math.log(math.exp(1 / t) / denom), rel=1e-6)
    sym = AsymmetricSupConLoss(temperature=0.5)(z, y)
    assert sym.item() > asym.item()  # the two "other" samples would add their own (worse) terms


def test_supcon_memory_bank():
    loss_fn = AsymmetricSupConLoss(temperature=1.0, memory_size=3)
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss_fn(first, torch.tensor([0, 1]))  # no positives: no anchors
    assert loss_fn.bank_z.shape == (2, 2)
    # the next batch has one sample per class, so its positives come from the bank only
    loss = loss_fn(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    # keys of anchor 0: other batch sample (sim 0), bank class 0 (sim 1), bank class 1 (sim 0)
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-6)
    assert loss_fn.bank_z.shape == (3, 2)  # FIFO capped at memory_size


def test_supcon_no_anchor_gives_zero_with_gradient():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    loss = AsymmetricSupConLoss()(z, torch.tensor([0, 1]))
    loss.backward()
    assert loss.item() == 0.0 and z.grad is not None
