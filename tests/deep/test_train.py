"""Training: grouped validation split, determinism, resume, and a short run that beats chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livermets.deep import train as train_module
from livermets.deep.aggregate import lesion_probabilities
from livermets.deep.config import DeepModelSpec
from livermets.deep.networks import LesionNet
from livermets.deep.train import (
    Numerics,
    auc_score,
    fuse_for_inference,
    grouped_validation_split,
    predict_crops,
    resolve_precision,
    select_device,
    train_lesion_model,
)
from livermets.errors import ConfigError

CLASSES = ["hemangioma", "metastasis"]


def _spec(**train) -> DeepModelSpec:
    return DeepModelSpec(
        name="tiny", crops={"size": 32, "max_slices": 3},
        network={"backbone": "densenet_tiny", "dropout": 0.0},
        train={"epochs": 8, "batch_size": 16, "lr": 3e-3, "patience": 8, "threads": 1, **train})


def _labels(crops) -> np.ndarray:
    return crops.meta["label"].map({c: k for k, c in enumerate(CLASSES)}).to_numpy()


def _held_out(crops):
    patients = sorted(crops.meta["patient_id"].unique())
    test = crops.meta["patient_id"].isin(patients[::3]).to_numpy()
    return np.flatnonzero(~test), np.flatnonzero(test)


def test_grouped_validation_split_keeps_patients_together():
    groups = np.repeat(np.arange(12), 3).astype(str)
    y = np.repeat(np.arange(12) % 2, 3)
    train, val = grouped_validation_split(y, groups, 0.25, 0)
    assert not set(groups[train]) & set(groups[val])
    assert set(y[val]) == {0, 1}
    assert len(train) + len(val) == len(y)


def test_device_choice():
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError):
            select_device("cuda")


# (precision setting, amp, CPU computes bf16 natively, device) -> resolved precision
PRECISION_CASES = [
    ("auto", True, True, "cpu", "bf16"),
    ("auto", True, False, "cpu", "fp32"),
    ("auto", False, True, "cpu", "fp32"),  # amp: false (older configs) keeps float32
    ("fp32", True, True, "cpu", "fp32"),
    ("bf16", True, False, "cpu", "bf16"),  # asked for explicitly: emulated, but honoured
    ("auto", True, True, "mps", "fp32"),
]


@pytest.mark.parametrize("setting,amp,native,device,expected", PRECISION_CASES)
def test_precision_resolution(monkeypatch, setting, amp, native, device, expected):
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: native)
    assert resolve_precision(setting, torch.device(device), amp) == expected


@pytest.mark.parametrize("avx512_bf16,amx,expected", [
    (True, False, True), (False, True, True), (False, False, False)])
def test_cpu_bf16_capability_check(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert train_module.cpu_supports_bf16() is expected


def test_numerics_of_settings(monkeypatch):
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: True)
    settings = _spec().train
    assert Numerics.of(settings, torch.device("cpu"), 2) == Numerics("cpu", "bf16", True)
    # channels-last is a 2D layout: 3D models keep the default format
    assert Numerics.of(settings, torch.device("cpu"), 3) == Numerics("cpu", "bf16", False)
    with pytest.raises(ConfigError):
        resolve_precision("fp16", torch.device("cpu"))


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_precision_path_trains_with_finite_loss(crops_2d, precision):
    sub = crops_2d.subset(np.arange(40))
    result = train_lesion_model(sub, _labels(sub), CLASSES,
                                _spec(epochs=1, precision=precision), seed=0)
    assert result.extra["precision"] == result.numerics.precision == precision
    assert result.numerics.channels_last
    assert np.isfinite(result.history[0]["loss"]) and result.history[0]["loss"] > 0
    assert np.isfinite(result.val_prob).all()


def test_training_reports_every_epoch_through_the_callback(crops_2d):
    sub = crops_2d.subset(np.arange(40))
    seen: list[tuple[int, int, dict[str, float]]] = []
    result = train_lesion_model(sub, _labels(sub), CLASSES, _spec(epochs=2, precision="fp32"),
                                seed=0, progress=lambda *call: seen.append(call))
    assert [(done, total) for done, total, _ in seen] == [(1, 2), (2, 2)]
    assert [record for _, _, record in seen] == result.history
    assert {"loss", "val_auc"} <= set(seen[-1][2])


@pytest.mark.parametrize("backbone,shape", [
    ("densenet_tiny", (3, 1, 32, 32)), ("resnet10", (3, 2, 32, 32)),
    ("densenet_tiny", (2, 1, 8, 16, 16))])
def test_channels_last_and_fused_batch_norm_give_the_same_outputs(backbone, shape):
    torch.manual_seed(0)
    dims = len(shape) - 2
    model = LesionNet(backbone, dims, 1, shape[1], 2).eval()
    with torch.no_grad():  # batch-norm statistics that are not the identity
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    x = torch.rand(shape)
    with torch.no_grad():
        reference = model(x)
        fused = fuse_for_inference(model)(x)
        layout = Numerics("cpu", "fp32", channels_last=dims == 2)
        converted = layout.model(LesionNet(backbone, dims, 1, shape[1], 2).eval())
        converted.load_state_dict(model.state_dict())
        nhwc = converted(layout.inputs(x))
    assert torch.allclose(fused, reference, atol=1e-4)
    assert torch.allclose(nhwc, reference, atol=1e-4)
    assert not torch.equal(model(x), reference * 0)  # a real output, not zeros


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_deterministic_and_resume(crops_2d, tmp_path, precision):
    train, _ = _held_out(crops_2d)
    sub = crops_2d.subset(train[:60])
    y = _labels(sub)
    spec = _spec(epochs=3, optimizer="sam", loss="ce+supcon", memory_size=16, precision=precision)
    a = train_lesion_model(sub, y, CLASSES, spec, seed=3)
    b = train_lesion_model(sub, y, CLASSES, spec, seed=3)
    for (name, ta), tb in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                              strict=True):
        assert torch.equal(ta, tb), name
    assert a.history == b.history
    # interrupted after 2 epochs, then resumed from the checkpoint: same as uninterrupted
    train_lesion_model(sub, y, CLASSES, spec, seed=3, checkpoint_dir=tmp_path, max_epochs=2)
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    epochs: list[tuple] = []
    c = train_lesion_model(sub, y, CLASSES, spec, seed=3, checkpoint_dir=tmp_path,
                           progress=lambda *call: epochs.append(call))
    assert c.history == a.history
    assert epochs == [(3, 3, a.history[2])]  # the resumed run reports its one epoch left
    for ta, tc in zip(a.model.state_dict().values(), c.model.state_dict().values(), strict=True):
        assert torch.equal(ta, tc)
    d = train_lesion_model(sub, y, CLASSES, spec, seed=4)
    assert d.history != a.history


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_short_training_beats_chance_on_held_out_patients(crops_2d, precision):
    train, test = _held_out(crops_2d)
    y = _labels(crops_2d)
    result = train_lesion_model(crops_2d.subset(train), y[train], CLASSES,
                                _spec(precision=precision), seed=0)
    assert not set(crops_2d.meta["patient_id"].iloc[test]) & set(
        crops_2d.subset(train).meta["patient_id"].iloc[result.val_rows])
    prob = predict_crops(result.model, crops_2d.subset(test), numerics=result.numerics,
                         fuse=True)
    keys, lesion_prob = lesion_probabilities(crops_2d.meta.iloc[test], prob)
    truth = keys.merge(crops_2d.meta.drop_duplicates(["patient_id", "lesion_id"]),
                       on=["patient_id", "lesion_id"])["label"].map(
        {c: k for k, c in enumerate(CLASSES)}).to_numpy()
    assert len(set(truth)) == 2
    assert auc_score(truth, lesion_prob) > 0.7


def _nan_gradients(monkeypatch, calls: set[int], statistics: bool = False) -> None:
    """Make the backward passes numbered in ``calls`` (0-based) give a NaN gradient (and with
    ``statistics`` a NaN batch-norm running mean, as a NaN forward pass leaves)."""
    original = train_module.batch_loss
    count = [0]

    def poisoned(net, *args, **kwargs):
        loss = original(net, *args, **kwargs)
        if count[0] in calls:
            next(p for p in net.parameters() if p.grad is not None).grad.fill_(float("nan"))
            if statistics:
                norm = next(m for m in net.modules()
                            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
                norm.running_mean.fill_(float("nan"))
        count[0] += 1
        return loss

    monkeypatch.setattr(train_module, "batch_loss", poisoned)


@pytest.mark.parametrize("optimizer,poisoned", [("adamw", {0}), ("sam", {1})])
def test_a_step_with_a_nan_gradient_is_skipped_not_taken(crops_2d, monkeypatch, optimizer,
                                                         poisoned):
    sub = crops_2d.subset(np.arange(40))
    spec = _spec(epochs=1, precision="fp32", optimizer=optimizer)
    clean = train_lesion_model(sub, _labels(sub), CLASSES, spec, seed=0)
    assert clean.history[0]["skipped_steps"] == 0
    _nan_gradients(monkeypatch, poisoned)  # SAM: the second (perturbed) pass of step 1
    result = train_lesion_model(sub, _labels(sub), CLASSES, spec, seed=0)
    assert result.history[0]["skipped_steps"] == 1
    weights = torch.cat([p.detach().flatten() for p in result.model.parameters()])
    assert torch.isfinite(weights).all()
    assert np.isfinite(result.val_prob).all()
    # the skipped step changed the weights nowhere but the remaining steps still trained
    assert result.history[0]["loss"] != clean.history[0]["loss"]


def test_training_whose_every_step_is_non_finite_stops_with_advice(crops_2d, monkeypatch):
    sub = crops_2d.subset(np.arange(40))
    _nan_gradients(monkeypatch, set(range(100)))
    with pytest.raises(ConfigError, match=r"also in float32: set a lower train\.lr"):
        train_lesion_model(sub, _labels(sub), CLASSES, _spec(epochs=1, precision="bf16"), seed=0)


def test_a_bf16_step_with_a_nan_gradient_is_redone_in_fp32_and_training_goes_on(crops_2d,
                                                                                monkeypatch):
    sub = crops_2d.subset(np.arange(40))
    fp32 = train_lesion_model(sub, _labels(sub), CLASSES, _spec(epochs=1, precision="fp32"),
                              seed=0)
    assert fp32.extra["precision_fallback"] is None and fp32.extra["precision"] == "fp32"
    _nan_gradients(monkeypatch, {1}, statistics=True)  # the second step's bf16 pass
    result = train_lesion_model(sub, _labels(sub), CLASSES, _spec(epochs=2, precision="bf16"),
                                seed=0)
    assert result.extra["precision_fallback"] == {"epoch": 0, "step": 1}
    assert result.extra["precision"] == "fp32"
    assert [h["skipped_steps"] for h in result.history] == [0, 0]  # redone, not skipped
    state = torch.cat([v.detach().flatten().float() for v in result.model.state_dict().values()])
    assert torch.isfinite(state).all() and np.isfinite(result.val_prob).all()
