"""The MIRP engine (``mirp==2.5.0``, extra ``livermets[ibsi]``): IBSI-1 features, pyradiomics names.

MIRP implements the IBSI-1 definitions and is tested by its authors against the IBSI phantoms; here
it serves as an independent cross-check of the pyradiomics engine. It takes the same parameters
and (image, mask) inputs as the pyradiomics engine and returns the same names
(``original_glcm_Contrast``) for every feature that has a pyradiomics equivalent, plus the IBSI
features pyradiomics lacks as ``original_mirp_<IBSI stem>`` (``original_mirp_stat_medad``).

How the parameters map onto MIRP's settings:

- ``discretisation``: ``bin_count`` -> ``fixed_bin_number``; ``bin_width`` -> MIRP's
  ``fixed_bin_size_pyradiomics`` (pyradiomics' bins, the default ``preprocessing: pyradiomics``)
  or IBSI's ``fixed_bin_size`` (``preprocessing: ibsi``), whose first bin starts at the absolute
  re-segmentation lower bound, else at the region's minimum (as the pyradiomics engine does).
- ``texture`` / ``texture_aggregation``: 3D averaged = ``3d_average``, 3D merged =
  ``3d_volume_merge``, 2D (pyradiomics ``force2D``) = ``2.5d_direction_merge`` /
  ``2.5d_volume_merge``; GLSZM, GLDM (IBSI NGLDM) and NGTDM ``3d`` / ``2.5d``.
- ``resegmentation``: every mode becomes MIRP's absolute range (``relative`` and ``sigma``
  thresholds computed as pyradiomics computes them); shape uses the original mask in both engines.
- ``resampling`` (direct calls; the pipeline resamples its windows itself): IBSI's grid in
  livermets with ``preprocessing: ibsi``, else pyradiomics' own resampling: both engines see the
  same voxels.
- ``normalisation``: pyradiomics' ``normalizeImage`` before MIRP (the same image both engines see).
- ``voxel_array_shift`` -> ``stat_value_shift`` (Energy, TotalEnergy, RootMeanSquared), and
  ``gldm_alpha`` -> ``ngldm_difference_level``.

Not supported (a ``ConfigError`` says so): filtered image types, ``shape2D``, ``distances`` other
than ``[1]`` and ``symmetric_glcm: false``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np
import SimpleITK as sitk

from livermets.errors import ConfigError
from livermets.radiomics.engines.base import Engine, IbsiEntry
from livermets.radiomics.params import TEXTURE_CLASSES, Extraction
from livermets.radiomics.preprocessing import ibsi_bin_lower_bound, ibsi_resample

INSTALL_HINT = 'pip install "livermets[ibsi]"  (installs mirp==2.5.0)'
MIRP_PREFIX = "mirp_"

# MIRP feature families computed for each pyradiomics feature class.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "firstorder": ("stat", "ih"),
    "shape": ("morph",),
    "glcm": ("cm",),
    "glrlm": ("rlm",),
    "glszm": ("szm",),
    "gldm": ("ngldm",),
    "ngtdm": ("ngtdm",),
}
# IBSI stem prefix of MIRP's feature names -> pyradiomics feature class.
_STEM_CLASS = {
    "stat": "firstorder", "ih": "firstorder", "morph": "shape", "cm": "glcm", "rlm": "glrlm",
    "szm": "glszm", "ngl": "gldm", "ngt": "ngtdm",
}  # fmt: skip
# pyradiomics features that MIRP computes although IBSI does not define them. Not mapped: MIRP's
# morph_max_2d_diam_z/y/x are the longest voxel runs along an axis (pyradiomics'
# Maximum2DDiameterSlice/Column/Row: the longest mesh-vertex distance in a plane), and its cm_mcc
# fills Haralick's Q only where p(i, j) > 0: both come back as mirp_<stem>.
_NOT_IN_IBSI = {"firstorder_TotalEnergy": "stat_total_energy"}
# With a voxel_array_shift, pyradiomics' energy features are MIRP's "offset" variants.
_SHIFTED = {
    "stat_energy": "stat_energy_offset",
    "stat_rms": "stat_rms_offset",
    "stat_total_energy": "stat_total_energy_offset",
}
# Not computed: MIRP's Moran's I and Geary's C take about 80 % of its run time (a Python loop over
# voxel pairs) and are Monte-Carlo estimates from 1000 voxels on (they miss IBSI configs A and C).
SKIPPED = frozenset({"morph_moran_i", "morph_geary_c"})
_KURTOSIS = "firstorder_Kurtosis"  # pyradiomics: kurtosis; IBSI and MIRP: excess kurtosis
_SPATIAL = {
    ("3d", "average"): ("3d_average", "3d"),
    ("3d", "merge"): ("3d_volume_merge", "3d"),
    ("2d", "average"): ("2.5d_direction_merge", "2.5d"),
    ("2d", "merge"): ("2.5d_volume_merge", "2.5d"),
}
_TEXTURE_STEMS = ("cm", "rlm", "szm", "dzm", "ngt", "ngl")
_DISCRETISATION_SUFFIX = re.compile(r"_(?:fbsp|fbs|fbn)_[wn][0-9.]+$")
_SPATIAL_SUFFIX = re.compile(r"_(?:2d|2\.5d|3d)(?:_(?:avg|s_mrg|d_mrg|v_mrg))?$")
_PARAMETER_SUFFIX = re.compile(r"(?:_d[0-9.]+)?(?:_a[0-9.]+)?$")


@cache
def pyradiomics_to_mirp() -> dict[str, tuple[str, ...]]:
    """pyradiomics feature (``glcm_Contrast``) -> MIRP's IBSI stems (``("cm_contrast",)``); the
    first is MIRP's value, the others are equal IBSI features (``cm_sum_var``, ``cm_dissimilarity``)
    that are not repeated."""
    from livermets.radiomics.ibsi import PYRADIOMICS_IBSI

    table = {key: entry.tags for key, entry in PYRADIOMICS_IBSI.items()}
    return {**table, **{key: (stem,) for key, stem in _NOT_IN_IBSI.items()}}


def mirp_stem(name: str) -> str:
    """MIRP's feature name without its settings (``cm_contrast_d1_3d_avg_fbs_w25.0`` ->
    ``cm_contrast``)."""
    stem = _DISCRETISATION_SUFFIX.sub("", name)
    if stem.split("_", 1)[0] in _TEXTURE_STEMS:
        stem = _PARAMETER_SUFFIX.sub("", _SPATIAL_SUFFIX.sub("", stem))
    return stem


def check_supported(extraction: Extraction) -> None:
    """Raise a ``ConfigError`` for settings the MIRP engine cannot reproduce."""
    problems = []
    other = [t for t in extraction.image_types.enabled() if t != "original"]
    if other:
        problems.append(f"image types {other} (only the original image; use engine: pyradiomics)")
    if "shape2D" in extraction.feature_classes:
        problems.append("feature class shape2D (MIRP has 3D morphology only)")
    if list(extraction.distances) != [1]:
        problems.append(f"distances {list(extraction.distances)} (only [1])")
    if not extraction.symmetric_glcm:
        problems.append("symmetric_glcm: false (MIRP's co-occurrence matrices are symmetric)")
    if extraction.features:
        unknown = sorted(
            f"{cls}.{name}" for cls, names in extraction.features.items() for name in names
            if f"{cls}_{name}" not in pyradiomics_to_mirp()
        )  # fmt: skip
        if unknown:
            problems.append(f"features {unknown} (no MIRP equivalent; `livermets docs radiomics`)")
    if problems:
        raise ConfigError(
            "the mirp engine does not support " + "; ".join(problems) + ". Change the parameter "
            "file or use engine: pyradiomics."
        )


def _absolute_range(values: np.ndarray, extraction: Extraction) -> tuple[float, float] | None:
    """The re-segmentation range in intensities (pyradiomics' rule for every mode), or None."""
    reseg = extraction.resegmentation
    if reseg is None:
        return None
    lo, hi = reseg.range
    if hi is None:  # one threshold: everything above it
        bounds = [lo if lo is not None else -math.inf]
    else:
        bounds = sorted([-math.inf if lo is None else lo, hi])
    if reseg.mode == "relative":
        bounds = [float(values.max()) * b for b in bounds]
    elif reseg.mode == "sigma":
        mean, sd = float(values.mean()), float(values.std())
        bounds = [mean + sd * b for b in bounds]
    return float(bounds[0]), float(bounds[1]) if len(bounds) == 2 else math.nan


def mirp_settings(
    extraction: Extraction, values: np.ndarray, *, texture: bool = True
) -> dict[str, Any]:
    """Keyword arguments of ``mirp.extract_features`` for an extraction.

    ``values`` are the region's intensities (re-segmentation thresholds and IBSI's first bin).
    """
    ex = extraction
    classes = [c for c in ex.feature_classes if texture or c not in TEXTURE_CLASSES]
    families = [f for c in classes for f in _FAMILIES.get(c, ())]
    directional, omni = _SPATIAL[(ex.texture, ex.texture_aggregation)]
    kwargs: dict[str, Any] = {
        "by_slice": ex.texture == "2d",
        "ibsi_compliant": False,  # compute every feature; ibsi_map() says which are IBSI's
        "base_feature_families": families,
        "stat_value_shift": float(ex.voxel_array_shift),
        "glcm_distance": 1.0,
        "glcm_spatial_method": directional,
        "glrlm_spatial_method": directional,
        "glszm_spatial_method": omni,
        "ngtdm_spatial_method": omni,
        "ngldm_spatial_method": omni,
        "ngldm_distance": 1.0,
        "ngldm_difference_level": float(ex.gldm_alpha),
    }
    bounds = _absolute_range(values, ex)
    disc = ex.discretisation
    if disc.bin_count is not None:
        kwargs["base_discretisation_method"] = "fixed_bin_number"
        kwargs["base_discretisation_n_bins"] = int(disc.bin_count)
    elif ex.preprocessing == "ibsi":
        kwargs["base_discretisation_method"] = "fixed_bin_size"
        kwargs["base_discretisation_bin_width"] = float(disc.bin_width)
        # MIRP starts the first bin at the lower re-segmentation bound: IBSI's lower bound if
        # absolute, else the region's minimum (the same voxels are kept either way)
        lower = ibsi_bin_lower_bound(ex)
        upper = math.nan if bounds is None else bounds[1]
        if lower is None:
            kept = values if bounds is None else values[_within(values, bounds)]
            lower = float(kept.min()) if kept.size else math.nan
        bounds = (float(lower), upper)
    else:
        kwargs["base_discretisation_method"] = "fixed_bin_size_pyradiomics"
        kwargs["base_discretisation_bin_width"] = float(disc.bin_width)
    if bounds is not None:
        kwargs["resegmentation_intensity_range"] = [float(bounds[0]), float(bounds[1])]
    return kwargs


def _within(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Which values a re-segmentation range keeps (closed, NaN = open)."""
    keep = values >= bounds[0]
    if not math.isnan(bounds[1]):
        keep &= values <= bounds[1]
    return keep


def _mirp_objects(image: sitk.Image, mask: sitk.Image) -> tuple[Any, Any]:
    """MIRP image and mask objects holding the voxels (float64, no rounding) and the geometry.

    MIRP 2.5's public entry point takes file paths (read as float32) or bare arrays (spacing 1);
    its numpy file classes take the arrays with spacing, origin and orientation (z, y, x).
    """
    from mirp._data_import.numpy_file import ImageNumpyFile, MaskNumpyFile

    nd = image.GetDimension()
    spacing = tuple(reversed(image.GetSpacing()))
    origin = tuple(reversed(image.GetOrigin()))
    orientation = np.reshape(np.ravel(np.array(image.GetDirection()))[::-1], (nd, nd))
    voxels = sitk.GetArrayFromImage(image).astype(np.float64)
    labels = (sitk.GetArrayViewFromImage(mask) == 1).astype(np.int64)
    common = {
        "sample_name": "region", "image_spacing": spacing, "image_origin": origin,
        "image_orientation": orientation, "image_dimensions": voxels.shape,
    }  # fmt: skip
    # "generic": no modality-specific processing (MIRP rounds CT images to integers)
    mirp_image = ImageNumpyFile(image_data=voxels, image_modality="generic", **common)
    mirp_mask = MaskNumpyFile(image_data=labels, image_modality="generic_mask", **common)
    mirp_image.image_metadata = voxels
    mirp_mask.image_metadata = labels
    return mirp_image, mirp_mask


def _run_mirp(mirp_image: Any, mirp_mask: Any, kwargs: dict[str, Any]) -> dict[str, float]:
    """MIRP's features of one region, by MIRP's names, without Moran's I and Geary's C.

    ``mirp.extract_features`` computes every feature of the requested families; its
    Moran's I / Geary's C (a Python loop over voxel pairs, a Monte-Carlo estimate from 1000 voxels
    on) take about 80 % of its time. This runs the same steps as MIRP's ``StandardWorkflow``
    (``standard_image_processing``, then ``_compute_radiomics_features``) with those two left out.
    """
    from mirp._features.feature_generator import feature_to_table, generate_features
    from mirp.extract_features_and_images import _base_extract_features_and_images

    tables = []
    workflows = _base_extract_features_and_images(
        image=mirp_image, mask=mirp_mask, write_features=False, export_features=True,
        write_images=False, export_images=False, **kwargs,
    )  # fmt: skip
    for workflow in workflows:
        settings = workflow.settings.feature_extr
        for image, masks in workflow.standard_image_processing():
            for region in masks:
                features = [f for f in generate_features(settings=settings)
                            if f.abbr_name not in SKIPPED]  # fmt: skip
                previous = None
                for feature in features:
                    feature.compute(image=image, mask=region)
                    if previous is not None:
                        previous.clear_local_cache(other=feature)
                    previous = feature
                for feature in features:
                    feature.clear_cache()
                tables.append(image.parse_feature_names(feature_to_table(features)))
    if len(tables) != 1 or tables[0] is None or tables[0].empty:
        raise ValueError("MIRP returned no features (is the region empty after re-segmentation?)")
    return {str(k): math.nan if v is None else float(v) for k, v in tables[0].iloc[0].items()}


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep MIRP from configuring the root logger, printing INFO lines and warning per region."""
    root = logging.getLogger()
    guard = None
    if not root.handlers:  # MIRP calls logging.basicConfig(level=INFO, stream=stdout)
        guard = logging.NullHandler()
        root.addHandler(guard)
    disabled = logging.root.manager.disable
    logging.disable(max(disabled, logging.INFO))  # process-wide while MIRP runs (its INFO lines)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)
        if guard is not None:
            root.removeHandler(guard)


def _crop(image: sitk.Image, mask: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cut to the region's bounding box plus one voxel (MIRP's time grows with the
    image; the features of the original image depend on the region's voxels only)."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(mask == 1, sitk.sitkUInt8))
    if not stats.HasLabel(1):
        raise ValueError("the region is empty")
    nd = image.GetDimension()
    box = stats.GetBoundingBox(1)
    lower = [max(0, box[a] - 1) for a in range(nd)]
    upper = [min(image.GetSize()[a], box[a] + box[nd + a] + 1) for a in range(nd)]
    region = tuple(slice(lo, hi) for lo, hi in zip(lower, upper, strict=True))
    return image[region], mask[region]


def _preprocess(
    image: sitk.Image, mask: sitk.Image, extraction: Extraction
) -> tuple[sitk.Image, sitk.Image]:
    """Normalisation and resampling in the order and on the grid of the pyradiomics engine:
    pyradiomics normalises, then resamples on its own grid; with ``preprocessing: ibsi`` the image
    is put on IBSI's grid first and normalised after."""
    from livermets.radiomics.engines.pyradiomics_engine import pyradiomics_settings
    from radiomics import imageoperations

    settings = pyradiomics_settings(extraction)
    if extraction.preprocessing == "ibsi":
        image, masks = ibsi_resample(image, {"roi": mask}, extraction)
        mask = masks["roi"]
    if extraction.normalisation is not None:
        image = imageoperations.normalizeImage(image, **settings)
    if extraction.preprocessing != "ibsi" and settings.get("resampledPixelSpacing") is not None:
        image, mask = imageoperations.resampleImage(image, mask, **settings)
    return image, mask


class MirpEngine(Engine):
    """Features computed by MIRP (IBSI-1), named as pyradiomics names them."""

    name = "mirp"

    def __init__(self) -> None:
        try:
            import mirp  # noqa: F401 - only checks that MIRP is installed
        except ImportError as exc:
            raise ConfigError(
                f"the mirp engine needs the optional package mirp: {INSTALL_HINT}"
            ) from exc
        from importlib.metadata import version

        self._version = version("mirp")

    def version(self) -> str:
        """``mirp <version>``."""
        return f"mirp {self._version}"

    def extract(
        self, image: sitk.Image, mask: sitk.Image, extraction: Extraction, *, texture: bool = True
    ) -> dict[str, float]:
        """Run MIRP on one region; without texture, only shape and first order."""
        check_supported(extraction)
        image, mask = _preprocess(image, mask, extraction)
        image, mask = _crop(image, mask)
        values = np.asarray(
            sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == 1], np.float64
        )
        bounds = _absolute_range(values, extraction)
        if bounds is not None and np.count_nonzero(_within(values, bounds)) <= 1:
            raise ValueError(  # pyradiomics' rule and message
                "Resegmentation excluded too many voxels (retained <= 1 voxel)! Cannot extract "
                "features"
            )
        kwargs = mirp_settings(extraction, values, texture=texture)
        mirp_image, mirp_mask = _mirp_objects(image, mask)
        with _quiet():
            row = _run_mirp(mirp_image, mirp_mask, kwargs)
        return self._rename(row, extraction)

    @staticmethod
    def _rename(row: Any, extraction: Extraction) -> dict[str, float]:
        """MIRP's row -> ``original_<class>_<pyradiomics name>`` and ``original_mirp_<stem>``."""
        by_stem: dict[str, float] = {}
        for name, value in row.items():
            stem = mirp_stem(name)
            if stem in by_stem:
                raise RuntimeError(f"MIRP returned {stem} twice: settings produced two variants")
            by_stem[stem] = math.nan if value is None else float(value)
        shifted = extraction.voxel_array_shift != 0
        selected = extraction.features or {}
        out: dict[str, float] = {}
        used: set[str] = set()
        for key, stems in pyradiomics_to_mirp().items():
            cls, feature = key.split("_", 1)
            source = _SHIFTED.get(stems[0], stems[0]) if shifted else stems[0]
            if source not in by_stem or (cls in selected and feature not in selected[cls]):
                continue
            value = by_stem[source]
            out[f"original_{key}"] = value + 3.0 if key == _KURTOSIS else value
            used.update({source, *stems})
        for stem, value in by_stem.items():
            cls = _STEM_CLASS.get(stem.split("_", 1)[0])
            if stem in used or stem in _SHIFTED.values() or cls in selected:
                continue
            out[f"original_{MIRP_PREFIX}{stem}"] = value
        return out

    def ibsi_map(self) -> dict[str, IbsiEntry]:
        """IBSI-1 mapping of the features this engine returns (MIRP's own compliance labels)."""
        return mirp_ibsi_map()


@cache
def _mirp_labels() -> dict[str, tuple[str, bool]]:
    """MIRP's IBSI identifier and compliance flag of every feature it can compute, by stem."""
    from mirp._features.feature_generator import generate_features
    from mirp.settings.feature_parameters import FeatureExtractionSettingsClass

    settings = FeatureExtractionSettingsClass(
        base_feature_families="all", base_discretisation_method="fixed_bin_number",
        base_discretisation_n_bins=8, ibsi_compliant=False, ivh_discretisation_method="none",
    )  # fmt: skip
    labels = {}
    for feature in generate_features(settings=settings):
        feature.update_ibsi_compliance()
        labels[feature.abbr_name] = (feature.ibsi_id or "", bool(feature.ibsi_compliant))
    return labels


_NOTES = {
    "firstorder_Kurtosis": "kurtosis (MIRP's excess kurtosis + 3), as pyradiomics returns it.",
    "firstorder_Energy": "IBSI energy needs voxel_array_shift: 0 (else MIRP's stat_energy_offset).",
    "firstorder_RootMeanSquared": "IBSI RMS needs voxel_array_shift: 0.",
    "glcm_ClusterTendency": "equal to IBSI sum variance, which is not repeated.",
    "glcm_DifferenceAverage": "equal to IBSI dissimilarity, which is not repeated.",
}


@cache
def mirp_ibsi_map() -> dict[str, IbsiEntry]:
    """IBSI-1 entries of the MIRP engine's features: pyradiomics-named ones and ``mirp_<stem>``.

    A feature is labelled compliant when MIRP gives it an IBSI identifier and marks it compliant.
    """
    from livermets.radiomics.ibsi import PYRADIOMICS_IBSI

    labels = _mirp_labels()
    out: dict[str, IbsiEntry] = {}
    covered: set[str] = set()
    for key, entry in PYRADIOMICS_IBSI.items():
        ibsi_id, compliant = labels.get(entry.tags[0], ("", False))
        out[key] = IbsiEntry(
            feature=key, tags=entry.tags, compliant=compliant and bool(ibsi_id),
            offset=-3.0 if key == _KURTOSIS else 0.0, note=_NOTES.get(key, ""),
        )  # fmt: skip
        covered.update(entry.tags)
    for stem, (ibsi_id, compliant) in sorted(labels.items()):
        if stem in covered or not ibsi_id or _STEM_CLASS.get(stem.split("_", 1)[0]) is None:
            continue
        if stem in SKIPPED:
            continue
        key = f"{MIRP_PREFIX}{stem}"
        out[key] = IbsiEntry(feature=key, tags=(stem,), compliant=compliant)
    return out
