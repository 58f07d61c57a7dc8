"""Segmentation backends: TotalSegmentator, an nnU-Net v2 model folder, livermets' MONAI model,
and a network the user brings (a TorchScript file or a MONAI bundle)."""

from __future__ import annotations

from typing import Any

from livermets.errors import ConfigError
from livermets.segment.backends.base import Backend, RawSegmentation

BACKENDS = ("monai", "totalsegmentator", "nnunet", "torchscript", "bundle")


def make_backend(name: str, **options: Any) -> Backend:
    """The backend called ``name`` with its options (see each backend's constructor; the
    torchscript and bundle backends refuse options they do not know)."""
    if name in ("torchscript", "bundle"):
        from livermets.segment.backends.network import NetworkBackend

        return NetworkBackend(name, options.pop("model", None), **options)
    if name == "monai":
        from livermets.segment.backends.monai_backend import MonaiBackend

        return MonaiBackend(options.get("model"), threads=options.get("threads"))
    if name == "totalsegmentator":
        from livermets.segment.backends.totalseg import TotalSegmentatorBackend

        return TotalSegmentatorBackend(
            liver_task=options.get("liver_task", "total"),
            lesion_task=options.get("lesion_task", "liver_lesions"),
            fast=options.get("fast", False),
            device=options.get("device", "cpu"),
            license_key=options.get("license_key"),
            weights_dir=options.get("weights_dir"),
            download=options.get("download", True),
        )
    if name == "nnunet":
        from livermets.segment.backends.nnunet import NnUNetBackend

        return NnUNetBackend(
            options.get("model"),
            folds=options.get("folds"),
            checkpoint=options.get("checkpoint", "checkpoint_final.pth"),
            labels=options.get("labels"),
            channels=options.get("channels"),
            device=options.get("device", "cpu"),
            threads=options.get("threads"),
        )
    raise ConfigError(f"unknown segmentation backend {name!r}; use one of {BACKENDS}.")


__all__ = ["BACKENDS", "Backend", "RawSegmentation", "make_backend"]
