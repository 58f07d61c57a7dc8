"""Segmentation backends: TotalSegmentator, an nnU-Net v2 model folder, livermets' MONAI model,
and a network the user brings (a TorchScript file or a MONAI bundle).

Each backend module registers a factory ``(model, options) -> Backend`` in ``BACKENDS`` with its
pydantic options model (``extra="forbid"``); importing this package imports them all (none
imports torch at import time). Adding a backend: a module here that registers itself, and one
import line below.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

# imported for their registration
from livermets.segment.backends import monai_backend, network, nnunet, totalseg  # noqa: F401
from livermets.segment.backends.base import BACKENDS, Backend, RawSegmentation


def backend_options(name: str, options: Mapping[str, Any] | None = None) -> BaseModel:
    """The options of backend ``name`` validated by its options model; an unknown backend, an
    unknown option (``treshold``) or a wrongly typed one is a ``ConfigError`` naming the backend,
    the bad key and the valid keys."""
    validated = BACKENDS.options(name, options)
    if validated is None:  # pragma: no cover - every backend registers an options model
        raise TypeError(f"segmentation backend {name!r} has no options model")
    return validated


def make_backend(name: str, model: str | Path | None = None, **options: Any) -> Backend:
    """The backend called ``name``, with its model (file or folder, when it takes one) and
    options (see each backend's options model: ``BACKENDS.get(name).options``)."""
    validated = backend_options(name, options)
    return BACKENDS.get(name).factory(model, validated)


__all__ = ["BACKENDS", "Backend", "RawSegmentation", "backend_options", "make_backend"]
