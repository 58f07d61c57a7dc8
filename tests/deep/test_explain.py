"""Grad-CAM shape and range; embedding feature table."""

from __future__ import annotations

import numpy as np
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
