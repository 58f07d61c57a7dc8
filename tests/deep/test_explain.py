"""Grad-CAM shape and range; embedding feature table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from livermets.deep.explain import cam_gallery, embedding_table, grad_cam
from livermets.deep.networks import LesionNet


@pytest.mark.parametrize("shape", [(3, 1, 32, 32), (2, 1, 8, 16, 16)])
def test_grad_cam_shape(shape):
    torch.manual_seed(0)
    model = LesionNet("densenet_tiny", len(shape) - 2, 1, 1, 2)
    cam = grad_cam(model, torch.rand(shape))
    assert cam.shape == (shape[0], *shape[2:])
    assert cam.min() >= 0.0 and cam.max() <= 1.0 + 1e-6
    assert np.allclose(cam.reshape(len(cam), -1).max(1), 1.0)


def test_grad_cam_depends_on_target_class():
    torch.manual_seed(0)
    model = LesionNet("resnet10", 2, 1, 1, 2)
    x = torch.rand(1, 1, 64, 64)
    assert not np.allclose(grad_cam(model, x, 0), grad_cam(model, x, 1))


def test_embedding_table_and_gallery(crops_2d, tmp_path):
    torch.manual_seed(0)
    model = LesionNet("densenet_tiny", 2, 1, 1, 2)
    sub = crops_2d.subset(np.arange(12))
    table = embedding_table(model, sub)
    n_lesions = len(sub.meta.drop_duplicates(["patient_id", "lesion_id"]))
    assert table.shape == (n_lesions, 3 + model.embedding_size)
    assert list(table.columns[:4]) == ["patient_id", "lesion_id", "label", "deep_000"]
    y = (sub.meta["label"] == "metastasis").to_numpy().astype(int)
    png = cam_gallery(model, sub, y, ["hemangioma", "metastasis"], tmp_path / "cam.png", 1)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_gallery_picks_right_and_wrong_lesions_per_class(crops_2d, tmp_path):
    from livermets.deep.explain import draw_gallery, gallery_picks, top_picks

    torch.manual_seed(0)
    model = LesionNet("densenet_tiny", 2, 1, 1, 2)
    sub = crops_2d.subset(np.arange(30))
    y = (sub.meta["label"] == "metastasis").to_numpy().astype(int)
    rng = np.random.default_rng(0)
    p1 = rng.uniform(0.05, 0.95, len(sub))
    prob = np.column_stack([1 - p1, p1])
    picks = gallery_picks(model, sub, y, prob, 2, per_group=2)
    keys = sub.meta[["patient_id", "lesion_id"]].astype(str)
    lesion_p1 = pd.Series(p1).groupby([keys["patient_id"], keys["lesion_id"]], sort=False).mean()
    for pick in picks.itertuples():
        mean_p1 = lesion_p1[(pick.patient_id, pick.lesion_id)]
        assert pick.pred == int(mean_p1 > 0.5)
        assert np.isclose(pick.confidence, max(mean_p1, 1 - mean_p1))
        assert (pick.verdict == "right") == (pick.pred == pick.true)
        assert pick.image.shape == pick.cam.shape == (32, 32)
        assert pick.cam.min() >= 0.0 and pick.cam.max() <= 1.0 + 1e-6
        # shown on the lesion's crop with the highest probability of the predicted class
        rows = np.flatnonzero((keys["patient_id"] == pick.patient_id)
                              & (keys["lesion_id"] == pick.lesion_id))
        best = rows[np.argmax(prob[rows, pick.pred])]
        assert np.array_equal(pick.image, sub.images[best, 0])
    for _, group in picks.groupby(["true", "verdict"]):
        assert len(group) <= 2 and group["confidence"].is_monotonic_decreasing
    pooled = top_picks(pd.concat([picks, picks.assign(confidence=picks["confidence"] / 2)]), 1)
    assert len(pooled) == picks.groupby(["true", "verdict"]).ngroups
    assert set(pooled["confidence"]) <= set(picks["confidence"])
    png = draw_gallery(picks, ["hemangioma", "metastasis"], tmp_path / "g.png", 2)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert gallery_picks(model, sub, y, prob, 2, per_group=0).empty
