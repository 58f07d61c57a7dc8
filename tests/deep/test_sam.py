"""SAM: the ascent step, and the descent step with the gradient taken at the perturbed point."""

from __future__ import annotations

import pytest
import torch

from livermets.nn.sam import SAM


def test_two_step_update():
    w0 = torch.tensor([1.0, -2.0])
    w = torch.nn.Parameter(w0.clone())
    rho, lr = 0.1, 0.5
    opt = SAM([w], torch.optim.SGD, rho=rho, lr=lr)
    loss = (w ** 2).sum()  # gradient 2w
    loss.backward()
    g = 2 * w0
    opt.first_step()
    perturbed = w0 + rho * g / g.norm()
    assert torch.allclose(w.detach(), perturbed)
    assert w.grad is None or torch.all(w.grad == 0)
    (w ** 2).sum().backward()  # gradient at the perturbed point
    opt.second_step()
    expected = w0 - lr * 2 * perturbed
    assert torch.allclose(w.detach(), expected)


def test_step_with_closure_matches_manual_steps():
    def run(manual: bool) -> torch.Tensor:
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(3))
        opt = SAM([w], torch.optim.AdamW, rho=0.05, lr=0.1, weight_decay=0.01)
        for _ in range(3):
            def closure():
                loss = ((w - 1) ** 4).sum()
                loss.backward()
                return loss
            opt.zero_grad()
            closure()
            if manual:
                opt.first_step()
                closure()
                opt.second_step()
            else:
                opt.step(closure)
        return w.detach()

    assert torch.allclose(run(True), run(False))
    assert not torch.allclose(run(True), torch.zeros(3))


def test_sam_needs_closure_and_positive_rho():
    w = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError):
        SAM([w], rho=0.0)
    with pytest.raises(ValueError):
        SAM([w]).step()
