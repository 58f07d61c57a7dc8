"""Training: grouped validation split, determinism, resume, and a short run that beats chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livermets.deep.aggregate import lesion_probabilities
from livermets.deep.config import DeepModelSpec
from livermets.deep.train import (
    auc_score,
    grouped_validation_split,
    predict_crops,
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


def test_deterministic_and_resume(crops_2d, tmp_path):
    train, _ = _held_out(crops_2d)
    sub = crops_2d.subset(train[:60])
    y = _labels(sub)
    spec = _spec(epochs=3, optimizer="sam", loss="ce+supcon", memory_size=16)
    a = train_lesion_model(sub, y, CLASSES, spec, seed=3)
    b = train_lesion_model(sub, y, CLASSES, spec, seed=3)
    for (name, ta), tb in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                              strict=True):
        assert torch.equal(ta, tb), name
    assert a.history == b.history
    # interrupted after 2 epochs, then resumed from the checkpoint: same as uninterrupted
    train_lesion_model(sub, y, CLASSES, spec, seed=3, checkpoint_dir=tmp_path, max_epochs=2)
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    c = train_lesion_model(sub, y, CLASSES, spec, seed=3, checkpoint_dir=tmp_path)
    assert c.history == a.history
    for ta, tc in zip(a.model.state_dict().values(), c.model.state_dict().values(), strict=True):
        assert torch.equal(ta, tc)
    d = train_lesion_model(sub, y, CLASSES, spec, seed=4)
    assert d.history != a.history


def test_short_training_beats_chance_on_held_out_patients(crops_2d):
    train, test = _held_out(crops_2d)
    y = _labels(crops_2d)
    result = train_lesion_model(crops_2d.subset(train), y[train], CLASSES, _spec(), seed=0)
    assert not set(crops_2d.meta["patient_id"].iloc[test]) & set(
        crops_2d.subset(train).meta["patient_id"].iloc[result.val_rows])
    prob = predict_crops(result.model, crops_2d.subset(test))
    keys, lesion_prob = lesion_probabilities(crops_2d.meta.iloc[test], prob)
    truth = keys.merge(crops_2d.meta.drop_duplicates(["patient_id", "lesion_id"]),
                       on=["patient_id", "lesion_id"])["label"].map(
        {c: k for k, c in enumerate(CLASSES)}).to_numpy()
    assert len(set(truth)) == 2
    assert auc_score(truth, lesion_prob) > 0.7
