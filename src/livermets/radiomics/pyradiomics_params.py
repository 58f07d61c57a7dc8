"""pyradiomics parameter files (``imageType`` / ``featureClass`` / ``setting``) as livermets ones.

pyradiomics' schema (``radiomics/schemas/paramSchema.yaml``) is converted key by key into a
livermets parameter mapping; a key livermets cannot honour raises a ``ConfigError`` naming it.
"""

from __future__ import annotations

from typing import Any

from livermets.errors import ConfigError

PYRADIOMICS_SECTIONS = ("imageType", "featureClass", "setting", "voxelSetting")
_CLASSES = ("firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
_DEFAULT_CLASSES = ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
_SIMPLE_TYPES = {
    "Original": "original",
    "Square": "square",
    "SquareRoot": "square_root",
    "Logarithm": "logarithm",
    "Exponential": "exponential",
    "Gradient": "gradient",
}
# SimpleITK's interpolator names, and the enum values pyradiomics' schema allows (1-10) that
# livermets has (sitkBSpline is 23 in SimpleITK 2: the name only)
_INTERPOLATORS = {
    "sitkNearestNeighbor": "nearest", 1: "nearest",
    "sitkLinear": "linear", 2: "linear",
    "sitkBSpline": "bspline",
}  # fmt: skip
_WAVELET_ARGS = ("wavelet", "level", "start_level")
# settings that change no feature value here, as in pyradiomics (see docs/radiomics.md)
_NO_EFFECT = {
    "additionalInfo": "diagnostics only",
    "minimumROIDimensions": "a 1-D region gets shape and first order, with a reason",
}
_UNSUPPORTED = {
    "minimumROISize": "use texture_min_voxels / min_diameter_mm in a livermets parameter file",
    "geometryTolerance": "livermets checks mask geometry itself (livermets validate)",
    "label_channel": "give a single-channel mask",
    "lbp2DRadius": "livermets has no LBP filters",
    "lbp2DSamples": "livermets has no LBP filters",
    "lbp2DMethod": "livermets has no LBP filters",
    "lbp3DLevels": "livermets has no LBP filters",
    "lbp3DIcosphereRadius": "livermets has no LBP filters",
    "lbp3DIcosphereSubdivision": "livermets has no LBP filters",
}
_KNOWN_SETTINGS = {
    "binWidth", "binCount", "resampledPixelSpacing", "interpolator", "padDistance",
    "normalize", "normalizeScale", "removeOutliers", "resegmentRange", "resegmentMode", "preCrop",
    "resegmentShape", "label", "force2D", "force2Ddimension", "voxelArrayShift", "distances",
    "symmetricalGLCM", "weightingNorm", "gldm_a", "correctMask", "sigma", "gradientUseSpacing",
    *_WAVELET_ARGS, *_NO_EFFECT, *_UNSUPPORTED,
}  # fmt: skip


def is_pyradiomics_params(data: Any) -> bool:
    """True for a mapping in pyradiomics' schema (any of imageType, featureClass, setting)."""
    return isinstance(data, dict) and any(key in data for key in PYRADIOMICS_SECTIONS)


def _refuse(source: str, key: str, why: str) -> ConfigError:
    """The error for a pyradiomics key livermets cannot honour."""
    return ConfigError(
        f"{source}: pyradiomics setting '{key}' is not supported by livermets ({why}). Remove it "
        "(or convert the file with `livermets params convert` and edit the result)."
    )


def _mapping(value: Any, source: str, key: str) -> dict[str, Any]:
    """A section that must be a mapping (a blank section is an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}.")
    return value


def _image_types(
    types: dict[str, Any], settings: dict[str, Any], source: str
) -> dict[str, Any]:
    """livermets ``image_types`` of pyradiomics' ``imageType`` (Original only when absent)."""
    if not types:
        return {"original": True}
    out: dict[str, Any] = {"original": False}
    for name, custom in types.items():
        args = _mapping(custom, source, f"imageType.{name}")
        if name in _SIMPLE_TYPES:
            allowed: tuple[str, ...] = ("gradientUseSpacing",) if name == "Gradient" else ()
            _check_custom(args, allowed, source, name)
            if name == "Gradient" and not args.get("gradientUseSpacing", True):
                raise _refuse(source, f"imageType.{name}.gradientUseSpacing",
                              "the gradient filter always uses the voxel spacing")  # fmt: skip
            out[_SIMPLE_TYPES[name]] = True
        elif name == "LoG":
            _check_custom(args, ("sigma",), source, name)
            sigma = args.get("sigma", settings.get("sigma"))
            if not sigma:
                raise ConfigError(
                    f"{source}: imageType LoG has no sigma (pyradiomics then computes no LoG "
                    "image): give e.g. LoG: {sigma: [1.0, 2.0, 3.0]}."
                )
            out["log"] = {"sigma": [float(s) for s in sigma]}
        elif name == "Wavelet":
            _check_custom(args, _WAVELET_ARGS, source, name)
            wavelet = {k: settings[k] for k in _WAVELET_ARGS if k in settings}
            out["wavelet"] = {**wavelet, **args}
        elif name in ("LBP2D", "LBP3D"):
            raise _refuse(source, f"imageType.{name}", "livermets has no LBP filters")
        else:
            raise ConfigError(
                f"{source}: imageType '{name}' is not a pyradiomics image type (Original, LoG, "
                "Wavelet, Square, SquareRoot, Logarithm, Exponential, Gradient)."
            )
    return out


def _check_custom(args: dict[str, Any], allowed: tuple[str, ...], source: str, name: str) -> None:
    """Per-image-type settings: only the filter's own arguments are supported."""
    for key in args:
        if key not in allowed:
            raise _refuse(
                source, f"imageType.{name}.{key}",
                "per-image-type settings other than the filter's own arguments; move it to "
                "'setting' if it applies to every image type",
            )  # fmt: skip


def _feature_classes(
    classes: dict[str, Any], force2d: bool, source: str
) -> tuple[list[str], dict[str, list[str]]]:
    """livermets ``feature_classes`` and ``features`` of pyradiomics' ``featureClass``."""
    if not classes:  # pyradiomics: every class (shape2D only with force2D)
        return _DEFAULT_CLASSES + (["shape2D"] if force2d else []), {}
    names: list[str] = []
    selected: dict[str, list[str]] = {}
    for cls, features in classes.items():
        if cls not in _CLASSES:
            raise ConfigError(
                f"{source}: featureClass '{cls}' is not a pyradiomics feature class "
                f"({', '.join(_CLASSES)})."
            )
        if cls == "shape2D" and not force2d:
            raise ConfigError(
                f"{source}: featureClass shape2D needs setting force2D: true (pyradiomics skips "
                "it otherwise); add force2D: true or remove shape2D."
            )
        if features is not None and not isinstance(features, list):
            raise ConfigError(
                f"{source}: featureClass.{cls} must be a list of feature names or empty "
                f"(every feature of the class), got {type(features).__name__}."
            )
        names.append(cls)
        if features:  # an empty or blank list: all (non-deprecated) features, as pyradiomics
            selected[cls] = [str(f) for f in features]
    return names, selected


def _discretisation(settings: dict[str, Any]) -> dict[str, Any]:
    """Fixed bin count when given (pyradiomics then ignores binWidth), else bin width."""
    if settings.get("binCount") is not None:
        return {"bin_count": settings["binCount"]}
    return {"bin_width": settings.get("binWidth", 25)}


def _resampling(settings: dict[str, Any], source: str) -> dict[str, Any]:
    """livermets ``resampling`` of resampledPixelSpacing, interpolator and padDistance."""
    interpolator = settings.get("interpolator", "sitkBSpline")
    if interpolator is None:
        interpolator = "sitkBSpline"
    if not isinstance(interpolator, str | int) or interpolator not in _INTERPOLATORS:
        raise _refuse(source, "interpolator", f"{interpolator!r}; livermets interpolates with "
                      "sitkBSpline, sitkLinear or sitkNearestNeighbor")  # fmt: skip
    out: dict[str, Any] = {"interpolator": _INTERPOLATORS[interpolator]}
    spacing = settings.get("resampledPixelSpacing")
    if spacing is not None:
        if not isinstance(spacing, list) or len(spacing) != 3:
            raise ConfigError(
                f"{source}: resampledPixelSpacing must list 3 spacings (x, y, z in mm; 0 keeps "
                f"a spacing), got {spacing!r}."
            )
        out["spacing"] = [float(s) for s in spacing]
    if "padDistance" in settings:
        out["pad_distance"] = settings["padDistance"]
    return out


def _resegmentation(settings: dict[str, Any], source: str) -> dict[str, Any] | None:
    """livermets ``resegmentation`` of resegmentRange / resegmentMode (None when absent)."""
    if settings.get("resegmentShape"):
        raise _refuse(source, "resegmentShape", "shape features always use the original mask")
    reseg = settings.get("resegmentRange")
    if reseg is None:
        return None
    if not isinstance(reseg, list) or len(reseg) not in (1, 2):
        raise ConfigError(
            f"{source}: resegmentRange must be [lower] or [lower, upper], got {reseg!r}."
        )
    upper = float(reseg[1]) if len(reseg) == 2 else None
    return {"range": [float(reseg[0]), upper], "mode": settings.get("resegmentMode", "absolute")}


def _texture(settings: dict[str, Any], source: str) -> dict[str, Any]:
    """Texture settings: force2D, distances, GLCM symmetry and weighting, GLDM alpha."""
    if settings.get("force2Ddimension", 0) != 0:
        raise _refuse(source, "force2Ddimension", "2D texture is computed in axial slices "
                      "(force2Ddimension: 0) only")  # fmt: skip
    weighting = settings.get("weightingNorm")
    if weighting not in (None, "no_weighting"):
        raise _refuse(source, "weightingNorm", f"{weighting!r}; only none (average over "
                      "directions) or no_weighting (merged directions)")  # fmt: skip
    out: dict[str, Any] = {
        "texture": "2d" if settings.get("force2D") else "3d",
        "texture_aggregation": "merge" if weighting == "no_weighting" else "average",
    }
    for key, ours in (("distances", "distances"), ("symmetricalGLCM", "symmetric_glcm"),
                      ("gldm_a", "gldm_alpha"), ("voxelArrayShift", "voxel_array_shift")):
        if settings.get(key) is not None:
            out[ours] = settings[key]
    return out


def _check_settings(settings: dict[str, Any], source: str) -> None:
    """Refuse unknown and unsupported keys of ``setting``."""
    for key, value in settings.items():
        if key not in _KNOWN_SETTINGS:
            raise ConfigError(
                f"{source}: '{key}' is not a pyradiomics setting (see pyradiomics' "
                "paramSchema.yaml); check its spelling."
            )
        if key in _UNSUPPORTED and value is not None:
            raise _refuse(source, key, _UNSUPPORTED[key])
    if settings.get("correctMask"):
        raise _refuse(source, "correctMask", "masks must lie on the image grid (livermets "
                      "validate says where they do not)")  # fmt: skip
    if settings.get("minimumROIDimensions", 1) == 3:
        raise _refuse(source, "minimumROIDimensions", "value 3; livermets computes every region "
                      "that extends along 2 axes")  # fmt: skip
    if settings.get("gradientUseSpacing") is False:
        raise _refuse(source, "gradientUseSpacing", "the gradient filter always uses the spacing")


def pyradiomics_to_livermets(data: dict[str, Any], source: str = "parameters") -> dict[str, Any]:
    """A livermets parameter mapping equivalent to a pyradiomics parameter mapping."""
    extra = sorted(str(k) for k in data if k not in PYRADIOMICS_SECTIONS)
    if extra:
        raise ConfigError(
            f"{source} mixes pyradiomics sections ({', '.join(PYRADIOMICS_SECTIONS[:3])}) with "
            f"other keys {extra}: write either a pyradiomics or a livermets parameter file."
        )
    if data.get("voxelSetting"):
        raise _refuse(source, "voxelSetting", "voxel-based feature maps are not computed")
    settings = _mapping(data.get("setting"), source, "setting")
    _check_settings(settings, source)
    types = _mapping(data.get("imageType"), source, "imageType")
    classes = _mapping(data.get("featureClass"), source, "featureClass")
    feature_classes, features = _feature_classes(classes, bool(settings.get("force2D")), source)
    extraction: dict[str, Any] = {
        "image_types": _image_types(types, settings, source),
        "feature_classes": feature_classes,
        "resampling": _resampling(settings, source),
        "discretisation": _discretisation(settings),
        **_texture(settings, source),
        "texture_min_voxels": 1,  # pyradiomics computes texture on any region it accepts
        "crop": "pyradiomics",  # filters and resampling see pyradiomics' own crop of a region
    }
    if settings.get("preCrop"):
        extraction["pre_crop"] = True
    if features:
        extraction["features"] = features
    reseg = _resegmentation(settings, source)
    if reseg is not None:
        extraction["resegmentation"] = reseg
    if settings.get("normalize"):
        extraction["normalisation"] = {
            "scale": settings.get("normalizeScale", 1),
            "remove_outliers": settings.get("removeOutliers"),
        }
    out: dict[str, Any] = {"engine": "pyradiomics", "extraction": extraction}
    label = settings.get("label")
    if label is not None:
        out["regions"] = {"lesion": True, "lesion_label": int(label)}
    return out
