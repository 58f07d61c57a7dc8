"""Figures of the cohort report: size distribution and the lesion gallery (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from livermets.lesions.measure import DEFAULT_SIZE_EDGES
from livermets.report.document import figure_png


def size_distribution(lesions: pd.DataFrame,
                      edges: Sequence[float] = DEFAULT_SIZE_EDGES) -> bytes:
    """Histogram of longest axial diameters by class, with the size-group edges."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = sorted(lesions["label"].dropna().astype(str).unique())
    top = max(float(lesions["diameter_mm"].max()), edges[-1] + 5) if len(lesions) else 60
    bins = np.arange(0, top + 2.5, 2.5)
    for label in labels:
        values = lesions.loc[lesions["label"].astype(str) == label, "diameter_mm"]
        ax.hist(values, bins=bins, alpha=0.55, label=f"{label} (n={len(values)})")
    for edge in edges:
        ax.axvline(edge, color="k", linestyle="--", linewidth=1)
    ax.set_xlabel("longest axial diameter (mm)")
    ax.set_ylabel("lesions")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return figure_png(fig)


def window(values: np.ndarray, level: float = 50, width: float = 400) -> np.ndarray:
    """CT window (default abdominal W400/L50) to 0..1."""
    lo, hi = level - width / 2, level + width / 2
    return np.clip((values - lo) / (hi - lo), 0, 1)


def gallery(crops: dict[str, list[tuple[np.ndarray, np.ndarray, str]]], ncols: int) -> bytes:
    """Grid of axial crops (rows: classes) with the lesion contour in red."""
    rows = max(len(crops), 1)
    fig, axes = plt.subplots(rows, ncols, figsize=(1.9 * ncols, 2.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (label, items) in enumerate(crops.items()):
        for c, (pixels, mask, title) in enumerate(items[:ncols]):
            ax = axes[r, c]
            ax.imshow(window(pixels), cmap="gray", interpolation="nearest")
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors="red", linewidths=0.8)
            ax.set_title(title, fontsize=7)
        axes[r, 0].text(
            -0.08,
            0.5,
            label,
            transform=axes[r, 0].transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=10,
            fontweight="bold",
        )
    fig.tight_layout()
    return figure_png(fig)
