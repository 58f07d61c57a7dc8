"""The pieces the three training loops share (``livermets.nn.training``)."""

from __future__ import annotations

import math

import pytest
import torch

from livermets.errors import ConfigError, DataError
from livermets.nn.sam import SAM
from livermets.nn.training import (
    adamw,
    base_optimizer,
    check_finite,
    deterministic,
    finite_step,
    make_schedule,
    optimizer_step,
    restore_buffers,
    restore_training_state,
    save_buffers,
    save_checkpoint,
    torch_threads,
    training_state,
)


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                               torch.nn.Linear(4, 1))


def test_threads_and_determinism_are_restored():
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    with deterministic(7, threads=1):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        first = torch.rand(3)
    with deterministic(7):
        assert torch.get_num_threads() == threads
        assert torch.equal(torch.rand(3), first)  # same seed, same draws
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


def test_adamw_or_sam_and_the_schedules():
    net = _net()
    plain = adamw(net.parameters(), 0.01, 1e-5)
    assert type(plain) is torch.optim.AdamW and base_optimizer(plain) is plain
    assert plain.defaults["weight_decay"] == 1e-5
    sam = adamw(net.parameters(), 0.01, 0.0, sam_rho=0.1, fused=True)
    assert isinstance(sam, SAM) and base_optimizer(sam) is sam.base_optimizer
    assert sam.base_optimizer.defaults["fused"] is True
    lrs = {}
    for kind in ("cosine", "constant", "poly"):
        optim = adamw(_net().parameters(), 1.0, 0.0)
        schedule = make_schedule(optim, kind, 10)
        seen = []
        for _ in range(5):
            optim.step()
            schedule.step()
            seen.append(schedule.get_last_lr()[0])
        lrs[kind] = seen
    assert lrs["constant"] == [1.0] * 5
    assert lrs["poly"] == pytest.approx([(1 - k / 10) ** 0.9 for k in range(1, 6)])
    assert lrs["cosine"] == pytest.approx([(1 + math.cos(math.pi * k / 10)) / 2
                                           for k in range(1, 6)])
    with pytest.raises(ConfigError, match="unknown learning-rate schedule 'step'"):
        make_schedule(plain, "step", 10)


def _loss(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    loss = net(x).pow(2).mean()
    loss.backward()
    return loss


def test_optimizer_step_plain_and_sam():
    torch.manual_seed(0)
    x = torch.randn(8, 3)
    net = _net()
    optim = adamw(net.parameters(), 0.1, 0.0)
    before = [p.detach().clone() for p in net.parameters()]
    _loss(net, x)
    assert optimizer_step(optim, lambda: pytest.fail("no second pass without SAM"))
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters(), strict=True))

    net = _net()
    sam = adamw(net.parameters(), 0.1, 0.0, sam_rho=0.05)
    before = [p.detach().clone() for p in net.parameters()]
    _loss(net, x)
    # a second pass that is not finite: the weights are put back, no step is taken
    assert not optimizer_step(sam, lambda: False)
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters(), strict=True))
    sam.zero_grad()
    _loss(net, x)
    assert optimizer_step(sam, lambda: finite_step(_loss(net, x), net))
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters(), strict=True))


def test_the_non_finite_guard():
    net = _net().train()
    saved = save_buffers(net)
    loss = _loss(net, torch.randn(8, 3))
    assert finite_step(loss, net)
    assert not torch.equal(net[1].running_mean, saved[0])
    restore_buffers(net, saved)
    assert torch.equal(net[1].running_mean, saved[0])
    net[0].weight.grad[0, 0] = float("nan")
    assert not finite_step(loss, net)
    assert not finite_step(torch.tensor(float("inf")), _net())
    assert check_finite(0.25, 3, "lower lr") == 0.25
    with pytest.raises(DataError, match=r"diverged \(loss nan\) at iteration 4; lower lr\.$"):
        check_finite(float("nan"), 4, "lower lr")


def test_a_checkpoint_resumes_the_same_run(tmp_path):
    """Training k steps, saving, then resuming gives the weights of an uninterrupted run."""

    def run(steps: int, resume_from: dict | None = None) -> tuple[torch.nn.Module, dict]:
        torch.manual_seed(1)
        net = _net()
        optim = adamw(net.parameters(), 0.05, 0.01)
        schedule = make_schedule(optim, "cosine", 6)
        done = 0
        if resume_from is not None:
            restore_training_state(resume_from, net, optim, schedule)
            done = resume_from["step"]
        for _ in range(done, steps):
            optim.zero_grad()
            _loss(net, torch.randn(8, 3))
            optimizer_step(optim, lambda: True)
            schedule.step()
        return net, {"step": steps, **training_state(net, optim, schedule)}

    whole, _ = run(6)
    _, state = run(3)
    path = save_checkpoint(tmp_path / "c" / "last.pt", state)
    loaded = torch.load(path, weights_only=False)
    assert set(loaded) == {"step", "model", "optimizer", "schedule", "torch_rng"}
    resumed, _ = run(6, loaded)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
