"""Grad-CAM heatmaps and penultimate-layer embeddings exported as a feature table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from livermets.deep.aggregate import lesion_probabilities
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


def gallery_picks(model: LesionNet, crops: CropSet, y: np.ndarray, prob: np.ndarray,
                  n_classes: int, per_group: int = 3, aggregation: str = "mean",
                  clinical: np.ndarray | None = None) -> pd.DataFrame:
    """The lesions a Grad-CAM gallery shows, with their image and heatmap.

    ``y`` and ``prob`` are per crop (true class; predicted probabilities). Crops are aggregated
    per lesion (``aggregation``); the predicted class is the one with the highest lesion
    probability. Per true class and verdict (right / wrong): the ``per_group`` most confident
    lesions, each shown on its crop with the highest probability of the predicted class, with the
    Grad-CAM of that class (``clinical``: per-crop vectors of an image + clinical model). One
    row per pick: ``patient_id``, ``lesion_id``, ``true``, ``pred``,
    ``verdict``, ``confidence`` and the 2D arrays ``image`` and ``cam``.
    """
    columns = ["patient_id", "lesion_id", "true", "pred", "verdict", "confidence", "image", "cam"]
    if len(crops) == 0 or per_group <= 0:
        return pd.DataFrame(columns=columns)
    keys, lesion_prob = lesion_probabilities(crops.meta, prob, aggregation)  # type: ignore[arg-type]
    codes = pd.factorize(crops.meta["patient_id"].astype(str) + "\x00"
                         + crops.meta["lesion_id"].astype(str), sort=False)[0]
    truth = pd.Series(np.asarray(y)).groupby(codes).first().to_numpy()
    pred = lesion_prob.argmax(1)
    confidence = lesion_prob[np.arange(len(pred)), pred]
    chosen: list[tuple[int, str]] = []
    for k in range(n_classes):
        for verdict, right in (("right", True), ("wrong", False)):
            lesions = np.flatnonzero((truth == k) & ((pred == k) == right))
            lesions = lesions[np.argsort(-confidence[lesions], kind="stable")][:per_group]
            chosen += [(int(j), verdict) for j in lesions]
    if not chosen:
        return pd.DataFrame(columns=columns)
    rows = [int(np.flatnonzero(codes == j)[np.argmax(prob[codes == j, pred[j]])])
            for j, _ in chosen]
    targets = torch.as_tensor([int(pred[j]) for j, _ in chosen])
    cams = grad_cam(model, torch.from_numpy(crops.images[rows]), targets,
                    torch.from_numpy(crops.present[rows]),
                    None if clinical is None else torch.from_numpy(clinical[rows]).float())
    records = []
    for (j, verdict), row, cam in zip(chosen, rows, cams, strict=True):
        image = crops.images[row, crops.images.shape[1] // 2]
        if image.ndim == 3:  # 3D crops: the middle axial plane
            image, cam = image[image.shape[0] // 2], cam[cam.shape[0] // 2]
        records.append({"patient_id": keys["patient_id"].iloc[j],
                        "lesion_id": keys["lesion_id"].iloc[j], "true": int(truth[j]),
                        "pred": int(pred[j]), "verdict": verdict,
                        "confidence": float(confidence[j]), "image": np.asarray(image),
                        "cam": np.asarray(cam, dtype=np.float32)})
    return pd.DataFrame(records, columns=columns)


def top_picks(picks: pd.DataFrame, per_group: int) -> pd.DataFrame:
    """The ``per_group`` most confident picks per true class and verdict (e.g. pooled over
    folds), ordered by class, right before wrong, then confidence."""
    if picks.empty:
        return picks
    order = picks.assign(_wrong=picks["verdict"] == "wrong").sort_values(
        ["true", "_wrong", "confidence"], ascending=[True, True, False], kind="stable")
    return order.groupby(["true", "verdict"], sort=False).head(per_group).drop(
        columns="_wrong").reset_index(drop=True)


def draw_gallery(picks: pd.DataFrame, classes: list[str], out: str | Path,
                 per_group: int | None = None) -> Path:
    """A PNG: one row per true class, its right then its wrong lesions, each crop with its
    Grad-CAM overlaid (nothing is written when there are no picks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if picks.empty:
        return out
    per_group = per_group or int(picks.groupby(["true", "verdict"]).size().max())
    rows = sorted(picks["true"].unique())
    fig, axes = plt.subplots(len(rows), 2 * per_group, squeeze=False,
                             figsize=(1.5 * 2 * per_group, 1.7 * len(rows)))
    for ax in axes.flat:
        ax.axis("off")
    for r, k in enumerate(rows):
        for c0, verdict in ((0, "right"), (per_group, "wrong")):
            group = picks[(picks["true"] == k) & (picks["verdict"] == verdict)]
            if group.empty:
                axes[r, c0].text(0.5, 0.5, f"{classes[k]}:\nno {verdict}\npredictions",
                                 ha="center", va="center", fontsize=6)
            for c, pick in enumerate(group.head(per_group).itertuples()):
                ax = axes[r, c0 + c]
                ax.imshow(pick.image, cmap="gray", vmin=0.0, vmax=1.0)
                ax.imshow(pick.cam, cmap="jet", alpha=0.35, vmin=0.0, vmax=1.0)
                ax.set_title(f"{classes[k]}: {verdict}\n{pick.patient_id}/{pick.lesion_id} "
                             f"p({classes[pick.pred]})={pick.confidence:.2f}", fontsize=5)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


def cam_gallery(model: LesionNet, crops: CropSet, y: np.ndarray, classes: list[str],
                out: str | Path, per_group: int = 3, aggregation: str = "mean") -> Path:
    """A PNG gallery: per true class, right and wrong lesions with Grad-CAM (``gallery_picks``);
    ``y`` is the true class of every crop."""
    picks = gallery_picks(model, crops, y, predict_crops(model, crops), len(classes), per_group,
                          aggregation)
    return draw_gallery(picks, classes, out, per_group)


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
