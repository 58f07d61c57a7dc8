"""The pyradiomics engine (the ``pyradiomics-bhklab`` distribution, imported as ``radiomics``)."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import numpy as np
import SimpleITK as sitk

from livermets.errors import ConfigError
from livermets.radiomics.engines.base import Engine, IbsiEntry
from livermets.radiomics.params import TEXTURE_CLASSES, Extraction
from livermets.radiomics.preprocessing import ibsi_bin_lower_bound, ibsi_discretise, ibsi_resample

_INTERPOLATORS = {
    "bspline": "sitkBSpline",
    "linear": "sitkLinear",
    "nearest": "sitkNearestNeighbor",
}
_IMAGE_TYPES = {
    "original": "Original",
    "log": "LoG",
    "wavelet": "Wavelet",
    "square": "Square",
    "square_root": "SquareRoot",
    "logarithm": "Logarithm",
    "exponential": "Exponential",
    "gradient": "Gradient",
}


def pyradiomics_settings(extraction: Extraction) -> dict[str, Any]:
    """The pyradiomics settings dict of an extraction (typed schema -> pyradiomics keys)."""
    ex = extraction
    settings: dict[str, Any] = {
        "additionalInfo": False,
        "label": 1,
        "minimumROIDimensions": 1,
        "minimumROISize": None,
        "distances": list(ex.distances),
        "force2D": ex.texture == "2d",
        "force2Ddimension": 0,
        "voxelArrayShift": ex.voxel_array_shift,
        "symmetricalGLCM": ex.symmetric_glcm,
        "gldm_a": ex.gldm_alpha,
        "interpolator": _INTERPOLATORS[ex.resampling.interpolator],
        "padDistance": ex.resampling.pad_distance,
        "resampledPixelSpacing": list(ex.resampling.spacing) if ex.resampling.spacing else None,
        "preCrop": ex.pre_crop,
    }
    if ex.texture_aggregation == "merge":
        settings["weightingNorm"] = "no_weighting"
    if ex.discretisation.bin_count is not None:
        settings["binCount"] = ex.discretisation.bin_count
    else:
        settings["binWidth"] = ex.discretisation.bin_width
    if ex.resegmentation is not None:
        lo, hi = ex.resegmentation.range
        settings["resegmentRange"] = (
            [lo] if hi is None else [float("-inf") if lo is None else lo, hi]
        )
        settings["resegmentMode"] = ex.resegmentation.mode
    if ex.normalisation is not None:
        settings["normalize"] = True
        settings["normalizeScale"] = ex.normalisation.scale
        settings["removeOutliers"] = ex.normalisation.remove_outliers
    return settings


def _image_type_args(extraction: Extraction) -> dict[str, dict[str, Any]]:
    """Enabled pyradiomics image types with their custom arguments."""
    types = extraction.image_types
    out: dict[str, dict[str, Any]] = {}
    for name in types.enabled():
        args: dict[str, Any] = {}
        if name == "log" and types.log is not None:
            args = {"sigma": list(types.log.sigma)}
        elif name == "wavelet" and types.wavelet is not None:
            args = types.wavelet.model_dump()
        out[_IMAGE_TYPES[name]] = args
    return out


def _extractor(extraction: Extraction, texture: bool) -> Any:
    """A configured ``RadiomicsFeatureExtractor`` (cached per process and settings)."""
    return _cached_extractor(extraction.model_dump_json(), texture)


@cache
def _cached_extractor(extraction_json: str, texture: bool) -> Any:
    """``_extractor`` keyed by settings JSON (pydantic models with lists are unhashable)."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    extraction = Extraction.model_validate_json(extraction_json)
    extractor = RadiomicsFeatureExtractor(**pyradiomics_settings(extraction))
    extractor.disableAllImageTypes()
    for name, args in _image_type_args(extraction).items():
        extractor.enableImageTypeByName(name, customArgs=args)
    extractor.disableAllFeatures()
    selected = extraction.features or {}
    for cls in extraction.feature_classes:
        if not texture and cls in TEXTURE_CLASSES:
            continue
        if cls in selected:
            extractor.enableFeaturesByName(**{cls: list(selected[cls])})
        else:
            extractor.enableFeatureClassByName(cls)
    return extractor


def _bounding_box(mask: sitk.Image) -> np.ndarray:
    """pyradiomics-style bounding box (lower, upper per axis, x first) of label 1."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    if not stats.HasLabel(1):
        raise ValueError("the region is empty after pre-processing (re-segmentation range?)")
    box = np.array(stats.GetBoundingBox(1))
    nd = mask.GetDimension()
    out = np.empty(2 * nd, dtype=int)
    out[0::2] = box[:nd]
    out[1::2] = box[:nd] + box[nd:] - 1
    return out


@cache
def _ibsi_class(base: type) -> type:
    """A pyradiomics feature class whose fixed bin width starts at IBSI's lower bound."""

    def _applyBinning(self: Any, matrix: np.ndarray) -> np.ndarray:
        """IBSI fixed-bin-width discretisation (``binCount`` keeps pyradiomics' own)."""
        width = self.settings.get("binWidth")
        if self.settings.get("binCount") is not None or width is None:
            return base._applyBinning(self, matrix)
        out = np.zeros(matrix.shape, dtype=int)
        out[self.maskArray] = ibsi_discretise(
            matrix[self.maskArray], width, self.settings.get("ibsiLowerBound")
        )
        self.coefficients["grayLevels"] = np.unique(out[self.maskArray])
        self.coefficients["Ng"] = int(np.max(self.coefficients["grayLevels"]))
        return out

    return type(f"Ibsi{base.__name__}", (base,), {"_applyBinning": _applyBinning})


def _ibsi_features(
    extractor: Any,
    image: sitk.Image,
    mask: sitk.Image,
    type_name: str,
    lower: float | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """``computeFeatures`` of pyradiomics with the IBSI-binning variant of each feature class."""
    from radiomics import getFeatureClasses

    classes = getFeatureClasses()
    out: dict[str, Any] = {}
    for class_name, names in extractor.enabledFeatures.items():
        if class_name.startswith("shape") or class_name not in classes:
            continue
        feature_class = _ibsi_class(classes[class_name])(
            image, mask, **{**kwargs, "ibsiLowerBound": lower}
        )
        for name in names or []:
            feature_class.enableFeatureByName(name)
        for name, value in feature_class.execute().items():
            out[f"{type_name}_{class_name}_{name}"] = value
    return out


def _as_float(value: Any) -> float:
    """A plain float from a pyradiomics result value (numpy scalars, 0-d arrays)."""
    return float(np.asarray(value).reshape(()))


class PyradiomicsEngine(Engine):
    """Features computed by pyradiomics' ``RadiomicsFeatureExtractor``."""

    name = "pyradiomics"

    def __init__(self) -> None:
        try:
            import radiomics
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ConfigError(
                "the pyradiomics engine needs the package pyradiomics-bhklab: "
                "pip install 'pyradiomics-bhklab>=3.1.4,<3.2'"
            ) from exc
        logging.getLogger("radiomics").setLevel(logging.ERROR)
        self._version = str(radiomics.__version__).lstrip("v")

    def version(self) -> str:
        """``pyradiomics <version>``."""
        return f"pyradiomics {self._version}"

    def extract(
        self, image: sitk.Image, mask: sitk.Image, extraction: Extraction, *, texture: bool = True
    ) -> dict[str, float]:
        """Run pyradiomics on one region; without texture, only shape and first order."""
        if extraction.preprocessing == "ibsi":
            image, masks = ibsi_resample(image, {"roi": mask}, extraction)
            inner = extraction.resampling.model_copy(update={"spacing": None})
            extractor = _extractor(extraction.model_copy(update={"resampling": inner}), texture)
            lower = ibsi_bin_lower_bound(extraction)
            result = self._run(extractor, image, masks["roi"], ibsi=True, ibsi_lower=lower)
        elif texture:
            extractor = _extractor(extraction, texture)
            result = extractor.execute(image, mask, label=1)
        else:
            result = self._run(_extractor(extraction, texture), image, mask)
        return {k: _as_float(v) for k, v in result.items() if not k.startswith("diagnostics_")}

    @staticmethod
    def _run(
        extractor: Any,
        image: sitk.Image,
        mask: sitk.Image,
        *,
        ibsi: bool = False,
        ibsi_lower: float | None = None,
    ) -> dict:
        """pyradiomics' execute() steps without its mask checks (which reject single voxels);
        with ``ibsi``, fixed bin widths start at ``ibsi_lower`` (original image) as IBSI's do."""
        from radiomics import imageoperations

        settings = dict(extractor.settings)
        image, mask = extractor.loadImage(image, mask, None, **settings)
        box = _bounding_box(mask)
        features: dict[str, Any] = dict(extractor.computeShape(image, mask, box, **settings))
        if settings.get("resegmentRange") is not None:
            mask = imageoperations.resegmentMask(image, mask, **settings)
            box = _bounding_box(mask)
        for image_type, custom in extractor.enabledImagetypes.items():
            args = {**settings, **custom}
            generator = getattr(imageoperations, f"get{image_type}Image")(image, mask, **args)
            for filtered, type_name, kwargs in generator:
                cropped, cropped_mask = imageoperations.cropToTumorMask(filtered, mask, box)
                if ibsi:
                    lower = ibsi_lower if type_name == "original" else None
                    features.update(
                        _ibsi_features(extractor, cropped, cropped_mask, type_name, lower, kwargs)
                    )
                else:
                    features.update(
                        extractor.computeFeatures(cropped, cropped_mask, type_name, **kwargs)
                    )
        return features

    def ibsi_map(self) -> dict[str, IbsiEntry]:
        """pyradiomics features that have an IBSI-1 definition (see ``radiomics.ibsi``)."""
        from livermets.radiomics.ibsi import PYRADIOMICS_IBSI

        return PYRADIOMICS_IBSI
