"""Grad-CAM heatmaps and penultimate-layer embeddings exported as a feature table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from livermets.deep.crops import CropSet
from livermets.deep.networks import LesionNet
from livermets.deep.train import embed_crops, predict_crops


def grad_cam(model: LesionNet, x: torch.Tensor, target: int | torch.Tensor | None = None,
             present: torch.Tensor | None = None, clinical: torch.Tensor | None = None
             ) -> np.ndarray:
    """Grad-CAM of the last feature maps, upsampled to the input: [B, (D,) H, W] in [0, 1].

    ``target`` is the class to explain (default: the predicted class of each crop).
    """
    model.eval()
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(False)
        embedding = model.embed(x, present, clinical)
        fmap = model.feature_map
        assert fmap is not None
        fmap.retain_grad()
        logits = model.head(embedding)
        if target is None:
            target = logits.argmax(1)
        target = torch.as_tensor(target).expand(len(x))
        model.zero_grad(set_to_none=True)
        logits.gather(1, target[:, None]).sum().backward()
        grads = fmap.grad
    assert grads is not None
    dims = tuple(range(2, fmap.dim()))
    weights = grads.mean(dim=dims, keepdim=True)
    cam = F.relu((weights * fmap).sum(1, keepdim=True)).detach()
    mode = "bilinear" if fmap.dim() == 4 else "trilinear"
    cam = F.interpolate(cam, size=x.shape[2:], mode=mode, align_corners=False)[:, 0]
    flat = cam.reshape(len(cam), -1)
    low, high = flat.min(1).values, flat.max(1).values
    cam = (cam - low.view(-1, *[1] * (cam.dim() - 1))) / (
        (high - low).clamp_min(1e-8).view(-1, *[1] * (cam.dim() - 1)))
    return cam.numpy()


def cam_gallery(model: LesionNet, crops: CropSet, y: np.ndarray, classes: list[str],
                out: str | Path, per_group: int = 3) -> Path:
    """A PNG gallery: per true class, right and wrong lesions (largest slice) with Grad-CAM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prob = predict_crops(model, crops)
    pred = prob.argmax(1)
    picks: list[tuple[str, int]] = []
    for k, name in enumerate(classes):
        for verdict, ok in (("right", True), ("wrong", False)):
            rows = np.flatnonzero((y == k) & ((pred == k) == ok))
            rows = rows[np.argsort(-prob[rows, k])][:per_group]
            picks += [(f"{name} ({verdict})", int(r)) for r in rows]
    out = Path(out)
    if not picks:
        return out
    fig, axes = plt.subplots(1, len(picks), figsize=(1.6 * len(picks), 2.0), squeeze=False)
    for ax, (title, r) in zip(axes[0], picks, strict=True):
        x = torch.from_numpy(crops.images[r:r + 1])
        cam = grad_cam(model, x, present=torch.from_numpy(crops.present[r:r + 1]))[0]
        image = crops.images[r, crops.images.shape[1] // 2]
        if image.ndim == 3:
            image, cam = image[image.shape[0] // 2], cam[cam.shape[0] // 2]
        ax.imshow(image, cmap="gray")
        ax.imshow(cam, cmap="jet", alpha=0.35)
        ax.set_title(title, fontsize=6)
        ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def embedding_table(model: LesionNet, crops: CropSet, clinical: np.ndarray | None = None,
                    prefix: str = "deep") -> pd.DataFrame:
    """One row per lesion: the mean over its slices of the penultimate-layer embedding.

    Columns ``patient_id``, ``lesion_id``, ``label``, ``{prefix}_000`` ...; ready to be used as a
    feature table by the classical models.
    """
    emb = embed_crops(model, crops, clinical)
    keys = crops.meta[["patient_id", "lesion_id"]].astype(str)
    frame = pd.DataFrame(emb, columns=[f"{prefix}_{k:03d}" for k in range(emb.shape[1])])
    frame.insert(0, "patient_id", keys["patient_id"].to_numpy())
    frame.insert(1, "lesion_id", keys["lesion_id"].to_numpy())
    table = frame.groupby(["patient_id", "lesion_id"], sort=False).mean().reset_index()
    labels = crops.meta.drop_duplicates(["patient_id", "lesion_id"])[
        ["patient_id", "lesion_id", "label"]].astype(str)
    return labels.merge(table, on=["patient_id", "lesion_id"], how="right")
