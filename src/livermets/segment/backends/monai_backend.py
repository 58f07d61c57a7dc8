"""The ``monai`` backend: a segmenter trained with ``livermets segment train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict, Field

from livermets._hashing import file_sha256
from livermets.cohort import PatientRow
from livermets.errors import InputFileError
from livermets.segment.backends.base import BACKENDS, RawSegmentation


class MonaiOptions(BaseModel):
    """Options of the ``monai`` backend: CPU ``threads`` for torch (default: torch's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(default=None, ge=1)


class MonaiBackend:
    """Sliding-window inference with a livermets MONAI segmenter folder."""

    name = "monai"

    def __init__(self, model_dir: str | Path | None, threads: int | None = None) -> None:
        """Remember the model folder; it is loaded by ``check``."""
        if model_dir is None:
            raise InputFileError(
                "the monai backend needs --model DIR, a folder written by `livermets segment "
                "train COHORT.csv --out DIR`."
            )
        self.model_dir = Path(model_dir)
        self.threads = threads
        self._model: Any = None

    def check(self) -> None:
        """Load the model (raises a clear error when the folder is not a trained model)."""
        from livermets.segment.monai_model import SegmenterModel

        self._model = SegmenterModel.load(self.model_dir)
        if self.threads is not None:
            from dataclasses import replace

            self._model.settings = replace(self._model.settings, threads=self.threads)

    def signature(self) -> dict[str, Any]:
        """Backend name, model folder and the hash of its weights."""
        weights = self.model_dir / "model.pt"
        return {
            "backend": self.name,
            "model": str(self.model_dir.resolve()),
            "weights_sha256": file_sha256(weights) if weights.is_file() else None,
        }

    def predict(self, image: sitk.Image, row: PatientRow) -> RawSegmentation:
        """Class map on the image grid, split into liver and lesion classes."""
        if self._model is None:
            self.check()
        model = self._model
        classes = sitk.GetArrayFromImage(model.predict(image))
        offset = 2 if model.has_liver else 1
        lesions = np.where(classes >= offset, classes - offset + 1, 0).astype(np.uint8)
        liver = classes == 1 if model.has_liver else None
        return RawSegmentation(liver, lesions, list(model.lesion_classes))


@BACKENDS.register("monai", options=MonaiOptions)
def monai_backend(model: str | Path | None, options: MonaiOptions) -> MonaiBackend:
    """livermets' MONAI segmenter, a folder written by ``livermets segment train``."""
    return MonaiBackend(model, threads=options.threads)
