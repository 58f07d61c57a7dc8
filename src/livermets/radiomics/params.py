"""Radiomics parameter files: a pydantic schema, YAML loading, presets and the params hash."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from livermets.errors import ConfigError
from livermets.radiomics.pyradiomics_params import is_pyradiomics_params, pyradiomics_to_livermets

FEATURE_CLASSES = ("firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")
DEFAULT_CLASSES = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
FeatureClass = Literal["firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
AGGREGATIONS = ("largest", "volume_weighted_mean", "max")


class _Strict(BaseModel):
    """A model that rejects unknown keys (a typo in a YAML key is an error, not a no-op)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LoGFilter(_Strict):
    """Laplacian-of-Gaussian filtered images, one per sigma (mm)."""

    sigma: list[float] = Field(min_length=1)

    @field_validator("sigma")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(s <= 0 for s in value):
            raise ValueError("every LoG sigma must be > 0 mm")
        return value


class WaveletFilter(_Strict):
    """Undecimated wavelet decompositions (pyradiomics' 8 sub-bands per level in 3D)."""

    wavelet: str = "coif1"
    level: int = Field(default=1, ge=1, le=4)
    start_level: int = Field(default=0, ge=0, le=3)


class ImageTypes(_Strict):
    """Which images features are computed on: the original and optional filtered ones."""

    original: bool = True
    log: LoGFilter | None = None
    wavelet: WaveletFilter | None = None
    square: bool = False
    square_root: bool = False
    logarithm: bool = False
    exponential: bool = False
    gradient: bool = False

    def enabled(self) -> list[str]:
        """Names of the enabled image types (pyradiomics naming)."""
        names = ["original"] if self.original else []
        names += ["log"] if self.log else []
        names += ["wavelet"] if self.wavelet else []
        for name in ("square", "square_root", "logarithm", "exponential", "gradient"):
            if getattr(self, name):
                names.append(name)
        return names


class Resampling(_Strict):
    """Resampling to a fixed voxel spacing before feature extraction."""

    spacing: tuple[float, float, float] | None = None
    interpolator: Literal["bspline", "linear", "nearest"] = "bspline"
    pad_distance: int = Field(default=5, ge=0)
    round_intensities: bool = False

    @field_validator("spacing")
    @classmethod
    def _spacing(cls, value: tuple[float, float, float] | None) -> Any:
        if value is not None and any(s < 0 for s in value):
            raise ValueError("resampling spacing must be >= 0 mm (0 keeps the original spacing)")
        return value


class Discretisation(_Strict):
    """Grey-level discretisation: a fixed bin width or a fixed bin count (exactly one)."""

    bin_width: float | None = 25.0
    bin_count: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_of(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("bin_count") is not None:
            if data.get("bin_width") is not None:
                raise ValueError("give either bin_width or bin_count, not both")
            data = {**data, "bin_width": None}
        return data

    @model_validator(mode="after")
    def _positive(self) -> Discretisation:
        if self.bin_width is None and self.bin_count is None:
            raise ValueError("give bin_width (e.g. 25) or bin_count (e.g. 32)")
        if self.bin_width is not None and self.bin_width <= 0:
            raise ValueError("bin_width must be > 0")
        if self.bin_count is not None and self.bin_count < 2:
            raise ValueError("bin_count must be >= 2")
        return self


class Resegmentation(_Strict):
    """Re-segmentation of the intensity mask to a value range (texture and first order only)."""

    range: tuple[float | None, float | None]
    mode: Literal["absolute", "relative", "sigma"] = "absolute"


class Normalisation(_Strict):
    """Z-score normalisation of the image (MRI), scaled, with optional outlier removal."""

    scale: float = 1.0
    remove_outliers: float | None = None


class Extraction(_Strict):
    """Engine-neutral extraction settings: what enters the params hash of the feature cache."""

    image_types: ImageTypes = ImageTypes()
    feature_classes: list[FeatureClass] = Field(default_factory=lambda: list(DEFAULT_CLASSES))
    features: dict[FeatureClass, list[str]] | None = None
    resampling: Resampling = Resampling()
    discretisation: Discretisation = Discretisation()
    resegmentation: Resegmentation | None = None
    normalisation: Normalisation | None = None
    texture: Literal["3d", "2d"] = "3d"
    texture_aggregation: Literal["average", "merge"] = "average"
    distances: list[int] = Field(default_factory=lambda: [1])
    symmetric_glcm: bool = True
    gldm_alpha: int = Field(default=0, ge=0)
    voxel_array_shift: float = 0.0
    texture_min_voxels: int = Field(default=27, ge=1)
    preprocessing: Literal["pyradiomics", "ibsi"] = "pyradiomics"
    crop: Literal["window", "pyradiomics"] = "window"
    pre_crop: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Extraction:
        if not self.feature_classes:
            raise ValueError("feature_classes is empty: list at least one class, e.g. [firstorder]")
        if not self.image_types.enabled():
            raise ValueError("no image type is enabled: set image_types.original: true")
        if self.crop == "pyradiomics" and self.preprocessing != "pyradiomics":
            raise ValueError("crop: pyradiomics needs preprocessing: pyradiomics")
        if self.resampling.round_intensities and self.preprocessing != "ibsi":
            raise ValueError("resampling.round_intensities needs preprocessing: ibsi")
        if "shape2D" in self.feature_classes and self.texture != "2d":
            raise ValueError("shape2D needs texture: 2d (pyradiomics force2D)")
        if self.features:
            missing = sorted(set(self.features) - set(self.feature_classes))
            if missing:
                raise ValueError(f"features lists classes {missing} not in feature_classes")
        return self


class Regions(_Strict):
    """Which regions features are extracted from."""

    lesion: bool = True
    lesion_label: int | None = Field(default=None, ge=1)
    ring_mm: list[float] = Field(default_factory=list)
    ring_clip_to_liver: bool = True
    liver: bool = False
    parenchyma: bool = False
    primary: bool = False
    extra: list[str] | Literal["all"] = Field(default_factory=list)

    @field_validator("ring_mm")
    @classmethod
    def _rings(cls, value: list[float]) -> list[float]:
        if any(r <= 0 for r in value):
            raise ValueError("peritumoral ring widths must be > 0 mm")
        if len(set(value)) != len(value):
            raise ValueError("peritumoral ring widths repeat")
        return value

    @field_validator("extra")
    @classmethod
    def _extra(cls, value: list[str] | str) -> list[str] | str:
        if value == "all":
            return value
        reserved = {"lesion", "liver", "parenchyma", "primary"}
        bad = [n for n in value if n in reserved or n.startswith("ring")]
        if bad:
            raise ValueError(f"extra region names {bad} collide with built-in regions")
        return value

    @model_validator(mode="after")
    def _any(self) -> Regions:
        if not (self.lesion or self.ring_mm or self.liver or self.parenchyma or self.primary
                or self.extra):  # fmt: skip
            raise ValueError("no region is enabled: set regions.lesion: true (or another region)")
        return self


class Compute(_Strict):
    """Where tasks run: local worker processes or a Dask distributed scheduler."""

    workers: int | None = Field(default=None, ge=1)
    scheduler: str | None = None


class RadiomicsParams(_Strict):
    """A whole radiomics parameter file."""

    preset: str | None = None
    engine: str = "pyradiomics"
    extraction: Extraction = Extraction()
    regions: Regions = Regions()
    aggregation: Literal["largest", "volume_weighted_mean", "max"] = "largest"
    lesion_connectivity: Literal[6, 18, 26] = 26
    min_diameter_mm: float = Field(default=5.0, ge=0)
    compute: Compute = Compute()

    def feature_settings(self) -> dict[str, Any]:
        """What determines a region's feature values: the engine name and the extraction."""
        extraction = self.extraction.model_dump(mode="json")
        # settings added later enter the hash only when set, so existing caches stay valid
        if extraction["preprocessing"] == "pyradiomics":
            del extraction["preprocessing"]
        if not extraction["resampling"]["round_intensities"]:
            del extraction["resampling"]["round_intensities"]
        if extraction["crop"] == "window":
            del extraction["crop"]
        if not extraction["pre_crop"]:
            del extraction["pre_crop"]
        return {"engine": self.engine, "extraction": extraction}

    def params_hash(self) -> str:
        """Hash of ``feature_settings`` (a cache key and the frozen-model check)."""
        text = json.dumps(self.feature_settings(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {'a.b.c': leaf}."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def settings_differences(found: RadiomicsParams, expected: RadiomicsParams) -> list[str]:
    """'setting: found vs expected' for every feature setting that differs."""
    a, b = _flatten(found.feature_settings()), _flatten(expected.feature_settings())
    return [f"{key}: {a.get(key, '(unset)')} vs {b.get(key, '(unset)')}"
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def preset_names() -> list[str]:
    """Names of the built-in presets."""
    folder = resources.files("livermets.radiomics") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _preset_dict(name: str) -> dict[str, Any]:
    """The raw content of a built-in preset."""
    if name not in preset_names():
        raise ConfigError(f"unknown radiomics preset '{name}'. Use one of {preset_names()}.")
    text = (resources.files("livermets.radiomics") / "presets" / f"{name}.yaml").read_text()
    return yaml.safe_load(text) or {}


_REPLACED = {"discretisation"}  # either/or settings: a file's choice replaces the preset's


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two dicts (override wins; nested dicts merge, lists replace)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACED:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _format_errors(exc: ValidationError) -> str:
    """One line per schema error: the key path and the problem."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def params_from_dict(data: dict[str, Any], source: str = "parameters") -> RadiomicsParams:
    """Validate a parameter mapping (applying its preset first; a pyradiomics one converted)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a YAML mapping (key: value), got {type(data).__name__}."
        )
    if is_pyradiomics_params(data):
        data = pyradiomics_to_livermets(data, source)
    preset = data.get("preset")
    merged = _merge(_preset_dict(preset), data) if preset else data
    try:
        return RadiomicsParams.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            f"{source} is not a valid radiomics parameter file:\n{_format_errors(exc)}\n"
            "See `livermets docs radiomics` for the schema."
        ) from None


def read_params_file(path: str | Path) -> Any:
    """The raw mapping of a YAML (or JSON) parameter file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"parameter file {path} does not exist. Write one (see `livermets docs radiomics`) or "
            f"use a preset: {preset_names()}."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {path} as YAML: {exc}") from None
    return data if data is not None else {}


def load_params(path: str | Path) -> RadiomicsParams:
    """Read and validate a radiomics parameter file (livermets' or pyradiomics' schema)."""
    return params_from_dict(read_params_file(path), source=str(path))


def resolve_params(spec: str | Path) -> RadiomicsParams:
    """Parameters from a file path or, when no such file exists, a preset name."""
    if not Path(spec).exists() and str(spec) in preset_names():
        return preset_params(str(spec))
    return load_params(spec)


def preset_params(name: str) -> RadiomicsParams:
    """The parameters of a built-in preset."""
    return params_from_dict({"preset": name}, source=f"preset {name}")
