"""The study YAML: one pydantic model, with errors that name the bad key and the allowed values."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from livermets.deep.config import DeepModelSpec, check_embedding_models
from livermets.errors import ConfigError
from livermets.models.cluster import address_problem
from livermets.models.pipeline import PipelineSpec
from livermets.models.validation import Tuning
from livermets.study.segmentation import SegmentationSpec


class _Strict(BaseModel):
    """Rejects unknown keys: a typo in the YAML is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the cases come from and which columns mean what."""

    features: Path | None = None
    manifest: Path | None = None
    radiomics_params: str | None = None
    level: Literal["lesion", "patient"] = "lesion"
    patient_column: str = "patient_id"
    id_column: str | None = None
    label_column: str = "label"
    positive: str | int | None = None
    centre_column: str = "center"
    split_column: str = "split"
    size_column: str = "size_group"
    diameter_column: str = "diameter_mm"
    clinical: list[str] = Field(default_factory=list)
    feature_columns: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    time_column: str | None = None
    event_column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.features is None) == (self.manifest is None):
            raise ValueError(
                "give exactly one of data.features (a feature table: CSV, Parquet or gzip CSV) "
                "or data.manifest (a cohort manifest CSV, with data.radiomics_params)"
            )
        if (self.time_column is None) != (self.event_column is None):
            raise ValueError("data.time_column and data.event_column go together: set both")
        return self


class SplitNames(_Strict):
    """The values of the split column that mean train, validation and test (three_way)."""

    train: str = Field(default="train", min_length=1)
    validation: str = Field(default="validation", min_length=1)
    test: str = Field(default="test", min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> SplitNames:
        values = [v.strip().lower() for v in (self.train, self.validation, self.test)]
        if len(set(values)) < 3:
            raise ValueError(f"split_names must be three different values, got {values}")
        return self


class Validation(_Strict):
    """The validation design; groups (patients) are never split, inner or outer.

    ``three_way``: fit on the train rows, choose the configuration (tuning trials) and the
    Youden cut-off on the validation rows, predict the test rows once with that model.
    """

    design: Literal["cv", "nested_cv", "fixed_split", "external", "three_way"] = "cv"
    folds: int = Field(default=5, ge=2)
    repeats: int = Field(default=1, ge=1)
    tuning: Tuning = Tuning()
    train_values: list[str] = Field(default_factory=lambda: ["train"])
    split_names: SplitNames = SplitNames()
    test_centres: list[str] = Field(default_factory=list)
    bootstrap: int = Field(default=1000, ge=100)

    @model_validator(mode="after")
    def _consistent(self) -> Validation:
        if self.design == "nested_cv" and self.tuning.trials == 0:
            raise ValueError("validation.design nested_cv needs validation.tuning.trials >= 1")
        if self.design == "cv" and self.tuning.trials > 0:
            raise ValueError(
                "validation.tuning.trials > 0 tunes in an inner loop: set validation.design: "
                "nested_cv (or trials: 0)"
            )
        if self.design == "three_way" and self.tuning.ensemble > 1:
            raise ValueError(
                "validation.design three_way chooses one configuration on the validation rows: "
                "set validation.tuning.ensemble: 1"
            )
        if self.design == "external" and not self.test_centres:
            raise ValueError("validation.design external needs validation.test_centres: [NAME]")
        return self


class ClinicalSpec(_Strict):
    """Clinical, rad-score, combined and nomogram models (statsmodels logistic regression)."""

    variables: list[str] = Field(min_length=1)
    selection: Literal["pvalue", "lasso", "none"] = "pvalue"
    p_threshold: float = Field(default=0.05, gt=0, lt=1)
    # ml: maximum likelihood; firth: Firth's penalised likelihood; auto: Firth when the
    # training data separate the classes (an infinite maximum-likelihood odds ratio)
    method: Literal["ml", "firth", "auto"] = "auto"
    radiomics_model: str | None = None
    combined: bool = True
    nomogram: bool = True


class SurvivalSpec(_Strict):
    """Cox model on clinical variables and the rad-score, with risk groups at a training cut-off."""

    covariates: list[str] = Field(default_factory=list)
    cutoff: Literal["median"] | float = "median"


class ExplainSpec(_Strict):
    """SHAP and permutation importance of the final models."""

    shap: bool = True
    permutation: bool = True
    max_rows: int = Field(default=200, ge=10)


class Compute(_Strict):
    """Where outer folds run: local worker processes or a Dask scheduler (same results)."""

    workers: int = Field(default=1, ge=1)
    scheduler: str | None = None

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = address_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.strip()


class MultiphaseSpec(_Strict):
    """The multi-phase lesion segmenter / classifier trained and tested inside a study."""

    settings: dict[str, Any] = Field(default_factory=dict)  # MultiphaseSettings keys
    external_centres: list[str] | None = None  # default: validation.test_centres
    test_fraction: float = Field(default=0.25, ge=0, lt=1)
    drop_phases: list[str] = Field(default_factory=lambda: ["delayed"])

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        from livermets.deep.multiphase.config import make_settings

        try:
            make_settings(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


class StudyConfig(_Strict):
    """A whole study (``models`` may be empty when a ``multiphase`` section is given)."""

    name: str = Field(default="study", min_length=1)
    title: str | None = None
    seed: int = Field(default=0, ge=0)
    data: DataSpec
    task: Literal["binary", "multiclass"] = "binary"
    aggregation: Literal["max", "mean", "largest", "vote"] = "max"
    models: list[PipelineSpec] = Field(default_factory=list)
    deep: list[DeepModelSpec] = Field(default_factory=list)
    segmentation: SegmentationSpec | None = None
    multiphase: MultiphaseSpec | None = None
    validation: Validation = Validation()
    subgroups: list[str] = Field(default_factory=lambda: ["size_group"])
    clinical: ClinicalSpec | None = None
    survival: SurvivalSpec | None = None
    explain: ExplainSpec = ExplainSpec()
    compute: Compute = Compute()
    tracking: Literal["mlflow"] | None = None
    tracking_uri: str | None = None
    synthetic: bool = False

    @model_validator(mode="after")
    def _unique_models(self) -> StudyConfig:
        if not self.models and self.multiphase is None:
            raise ValueError("models: list at least one model (or give a multiphase section)")
        names = [m.name for m in [*self.models, *self.deep]]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"model names must be unique; repeated: {twice}")
        if self.clinical and self.clinical.radiomics_model not in (None, *names):
            raise ValueError(
                f"clinical.radiomics_model {self.clinical.radiomics_model!r} is not one of the "
                f"models: {names}"
            )
        if self.survival and self.data.time_column is None:
            raise ValueError("survival needs data.time_column and data.event_column")
        if self.deep and self.validation.design == "three_way":
            raise ValueError(
                "validation.design three_way covers the radiomics and clinical models; deep "
                "models use cv, nested_cv, fixed_split or external: drop the deep section or "
                "change the design"
            )
        check_embedding_models(self.deep, self.models)  # deep[].embeddings_for (deep hook)
        return self

    def fingerprint(self, *parts: Any) -> str:
        """A short hash of this config but ``compute`` (plus ``parts``), for caching."""
        config = self.model_dump(mode="json", exclude={"compute"})  # results do not depend on it
        payload = json.dumps([config, *parts], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# The study settings a fitted fold or final model depends on (besides the data, whose content is
# hashed, the model's own spec and the code), each with the sub-keys that do not matter for
# fitting. Every other field changes only metrics, the report, tracking, other models or where
# the work runs (OTHER_FIELDS), so changing it reuses the cache. A new field goes in one of them.
FIT_FIELDS: dict[str, frozenset[str]] = {
    "seed": frozenset(),
    "task": frozenset(),
    "data": frozenset({"features", "manifest"}),  # where the table is, not what is in it
    "validation": frozenset({"bootstrap"}),  # bootstrap CIs of the metrics
    "clinical": frozenset(),
}
OTHER_FIELDS = frozenset({
    "name", "title", "aggregation", "models", "deep", "segmentation", "multiphase", "subgroups",
    "survival",
    "explain", "compute", "tracking", "tracking_uri", "synthetic",
})


def fit_fingerprint(config: StudyConfig, *parts: Any) -> str:
    """A short hash of the settings in ``FIT_FIELDS`` (plus ``parts``), for the fit caches."""
    dump = config.model_dump(mode="json", include=set(FIT_FIELDS))
    for name, ignored in FIT_FIELDS.items():
        if isinstance(dump.get(name), dict):
            dump[name] = {k: v for k, v in dump[name].items() if k not in ignored}
    payload = json.dumps([dump, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _format(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            allowed = _allowed_keys(parent)
            msg = f"unknown key; allowed keys here: {', '.join(allowed)}"
        lines.append(f"  {where}: {msg}")
    return f"{source} is not a valid study config:\n" + "\n".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``loc`` inside ``StudyConfig``."""
    model: Any = StudyConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            break
        model = nested[0]
    return list(model.model_fields)


def config_from_dict(
    data: Any, source: str = "study config", base: Path | None = None
) -> StudyConfig:
    """Validate a mapping; relative data paths are resolved against ``base``."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a YAML mapping (key: value), got {type(data).__name__}."
        )
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc, source)) from None
    if base is not None:
        update = {}
        for key in ("features", "manifest"):
            path = getattr(config.data, key)
            if path is not None and not path.is_absolute():
                update[key] = (base / path).resolve()
        params = config.data.radiomics_params
        if params and params.endswith((".yaml", ".yml")) and not Path(params).is_absolute():
            update["radiomics_params"] = str((base / params).resolve())
        if update:
            config = config.model_copy(update={"data": config.data.model_copy(update=update)})
    return config


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"study config {path} does not exist; write one with `livermets study init TEMPLATE`."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {path} as YAML: {exc}") from None
    return config_from_dict(data, str(path), base=path.parent.resolve())
