"""Pipeline specifications and the leakage-safe imbalanced-learn Pipeline built from them."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Literal, Union

import numpy as np
from imblearn.pipeline import Pipeline
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livermets.errors import ConfigError
from livermets.models.registry import Registry
from livermets.models.steps import CLASSIFIERS, IMPUTERS, RESAMPLERS, SCALERS, SELECTORS
from livermets.models.transformers import CorrelationFilter

STEP_REGISTRIES: dict[str, Registry[Any]] = {
    "impute": IMPUTERS,
    "scale": SCALERS,
    "select": SELECTORS,
    "resample": RESAMPLERS,
    "classifier": CLASSIFIERS,
}


def _check_name(registry: Registry[Any], value: str) -> str:
    if value not in registry:
        raise ValueError(f"{value!r} is not a known {registry.kind}; allowed: {registry.names()}")
    return value


Choice = Union[bool, int, float, str, None]  # noqa: UP007 (pydantic keeps each type)


class Range(BaseModel):
    """A numeric range that replaces a registered hyperparameter's range (log scale or not)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"a range needs low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        return self


def _check_values(pattern: str, values: list[Choice], kinds: dict[str, str]) -> None:
    """Refuse list values of the wrong type for the numeric parameters they replace."""
    for name, kind in kinds.items():
        if kind == "int":
            wrong = [v for v in values if isinstance(v, bool) or not isinstance(v, int)]
        elif kind == "float":
            wrong = [v for v in values if isinstance(v, bool) or not isinstance(v, int | float)]
        else:
            continue
        if wrong:
            raise ValueError(f"search.params: {pattern!r} sets {kind} parameter {name!r}; "
                             f"{wrong} are not {'whole numbers' if kind == 'int' else 'numbers'}")


class _Recorder:
    """A stand-in Optuna trial that records the names and kinds of the parameters a search
    space asks for (and answers each with its first value)."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        self.kinds[name] = "float"
        return low

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        self.kinds[name] = "int"
        return low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.kinds[name] = "categorical"
        return choices[0]


def tunable_parameters() -> dict[str, str]:
    """Every registered hyperparameter's Optuna name (``select.anova.k``, ``logistic.C``...)
    and kind (``float``, ``int``, ``categorical``)."""
    recorder = _Recorder()
    for step, prefix in (("select", "select.{}."), ("resample", "resample.{}."),
                         ("classifier", "{}.")):
        registry = STEP_REGISTRIES[step]
        for name in registry:
            registry.get(name).space(recorder, prefix.format(name))
    return dict(recorder.kinds)


def _matching(pattern: str, names: dict[str, str]) -> list[str]:
    return [n for n in names if fnmatchcase(n, pattern)]


class SearchSpace(BaseModel):
    """Alternatives the inner loop may choose between, besides the model's hyperparameters.

    ``params`` replaces registered search ranges by Optuna parameter name, or by a glob pattern
    over those names (``select.*.k``): a list of values (a categorical choice) or a ``Range``
    (``{low, high, log}``, for float and integer parameters). An exact name wins over a pattern;
    among patterns the first listed wins.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: list[str] = Field(default_factory=list)
    select: list[str] = Field(default_factory=list)
    resample: list[str] = Field(default_factory=list)
    classifier: list[str] = Field(default_factory=list)
    tune_classifier: bool = True
    tune_select: bool = True
    params: dict[str, list[Choice] | Range] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> SearchSpace:
        for step in ("scale", "select", "resample", "classifier"):
            for name in getattr(self, step):
                _check_name(STEP_REGISTRIES[step], name)
        known = tunable_parameters()
        for pattern, value in self.params.items():
            names = _matching(pattern, known)
            if not names:
                import difflib

                close = difflib.get_close_matches(pattern, list(known), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ValueError(
                    f"search.params: {pattern!r} names no tunable parameter{hint}; names are "
                    "'select.<selector>.<param>', 'resample.<resampler>.<param>' or "
                    "'<classifier>.<param>', e.g. 'select.anova.k', 'logistic.C', "
                    "or a pattern such as 'select.*.k'"
                )
            if isinstance(value, Range):
                categorical = [n for n in names if known[n] == "categorical"]
                if categorical:
                    raise ValueError(
                        f"search.params: {pattern!r} gives a range, but {categorical} "
                        "choose(s) from a list; give a list of values instead"
                    )
                whole = [n for n in names if known[n] == "int"]
                if whole and not (float(value.low).is_integer()
                                  and float(value.high).is_integer()):
                    raise ValueError(
                        f"search.params: {pattern!r} sets integer parameter(s) {whole}: give "
                        f"whole-number bounds (got low={value.low}, high={value.high})"
                    )
            elif not value:
                raise ValueError(f"search.params: {pattern!r} needs at least one value")
            else:
                _check_values(pattern, value, {n: known[n] for n in names})
        return self

    def override(self, name: str) -> list[Choice] | Range | None:
        """What replaces the registered range of parameter ``name`` (None: keep it)."""
        if name in self.params:
            return self.params[name]
        for pattern, value in self.params.items():
            if fnmatchcase(name, pattern):
                return value
        return None


class _OverriddenTrial:
    """An Optuna trial (or ``FixedTrial``) whose ranges are replaced by ``search.params``."""

    def __init__(self, trial: Any, search: SearchSpace) -> None:
        self.trial = trial
        self.search = search

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      **kwargs: Any) -> Any:
        found = self.search.override(name)
        if found is None:
            return self.trial.suggest_float(name, low, high, log=log, **kwargs)
        if isinstance(found, Range):
            return self.trial.suggest_float(name, found.low, found.high, log=found.log)
        return self.trial.suggest_categorical(name, found)

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False,
                    **kwargs: Any) -> Any:
        found = self.search.override(name)
        if found is None:
            return self.trial.suggest_int(name, low, high, log=log, **kwargs)
        if isinstance(found, Range):
            return self.trial.suggest_int(name, int(found.low), int(found.high), log=found.log)
        return self.trial.suggest_categorical(name, found)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        found = self.search.override(name)
        # a Range on a categorical parameter is refused when the SearchSpace is validated
        return self.trial.suggest_categorical(name, choices if found is None else found)


class PipelineSpec(BaseModel):
    """One model of a comparison: preprocessing, selection, resampling and classifier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    impute: str = "median"
    scale: str = "zscore"
    redundancy: float | None = Field(default=0.6, gt=0.0, le=1.0)
    select: str = "lasso"
    select_params: dict[str, Any] = Field(default_factory=dict)
    resample: str = "none"
    resample_params: dict[str, Any] = Field(default_factory=dict)
    classifier: str = "logistic"
    classifier_params: dict[str, Any] = Field(default_factory=dict)
    search: SearchSpace = SearchSpace()
    inputs: Literal["radiomics", "clinical", "combined"] = "radiomics"
    base: PipelineSpec | None = None

    @model_validator(mode="after")
    def _combined(self) -> PipelineSpec:
        if self.inputs == "combined" and self.base is None:
            raise ValueError("a combined model needs base: the radiomics model it scores with")
        return self

    @field_validator("impute")
    @classmethod
    def _impute(cls, v: str) -> str:
        return _check_name(IMPUTERS, v)

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: str) -> str:
        return _check_name(SCALERS, v)

    @field_validator("select")
    @classmethod
    def _select(cls, v: str) -> str:
        return _check_name(SELECTORS, v)

    @field_validator("resample")
    @classmethod
    def _resample(cls, v: str) -> str:
        return _check_name(RESAMPLERS, v)

    @field_validator("classifier")
    @classmethod
    def _classifier(cls, v: str) -> str:
        return _check_name(CLASSIFIERS, v)


SELF_RESAMPLING_FREE = ("default_search",)  # classifiers that refuse a resampler


def build_pipeline(
    spec: PipelineSpec, seed: int = 0, clinical_columns: tuple[str, ...] = ()
) -> Pipeline:
    """The Pipeline impute -> scale -> redundancy filter -> select -> resample -> classifier.

    A classifier that calibrates on patient-grouped inner folds (the SVMs) takes the resampler
    inside those folds instead. A combined model is an imputer and a ``CombinedModel`` (clinical
    columns + rad-score of the ``base`` radiomics pipeline, which sees every other column).
    """
    if spec.inputs == "combined":
        from livermets.models.clinical import CombinedModel

        assert spec.base is not None
        imputer = IMPUTERS.create(spec.impute, seed=seed).set_output(transform="pandas")
        combined = CombinedModel(build_pipeline(spec.base, seed), tuple(clinical_columns),
                                 seed=seed, **spec.classifier_params)
        return Pipeline([("impute", imputer), ("classifier", combined)])
    steps: list[tuple[str, Any]] = [("impute", IMPUTERS.create(spec.impute, seed=seed))]
    scaler = SCALERS.create(spec.scale, seed=seed)
    if scaler is not None:
        steps.append(("scale", scaler))
    if spec.redundancy is not None:
        steps.append(("redundancy", CorrelationFilter(threshold=spec.redundancy)))
    selector = SELECTORS.create(spec.select, seed=seed, **spec.select_params)
    if selector is not None:
        steps.append(("select", selector))
    resampler = RESAMPLERS.create(spec.resample, seed=seed, **spec.resample_params)
    classifier = CLASSIFIERS.create(spec.classifier, seed=seed, **spec.classifier_params)
    if resampler is not None and spec.classifier in SELF_RESAMPLING_FREE:
        raise ConfigError(f"model {spec.name!r}: classifier {spec.classifier!r} fits its own "
                          "candidate pipelines and takes no resampler; use resample: none")
    if resampler is not None and getattr(classifier, "uses_groups", False):
        # a classifier that splits its rows by patient (calibrated SVM) resamples inside its
        # inner folds: resampled rows belong to no patient and must not be calibrated on
        classifier.set_params(resampler=resampler)
    elif resampler is not None:
        steps.append(("resample", resampler))
    steps.append(("classifier", classifier))
    pipeline = Pipeline(steps)
    if spec.inputs == "clinical":
        pipeline.set_output(transform="pandas")
    return pipeline


def sample_spec(spec: PipelineSpec, trial: Any) -> PipelineSpec:
    """A concrete spec for one Optuna trial: step choices and hyperparameters sampled (ranges
    replaced by ``search.params``)."""
    if spec.search.params:
        trial = _OverriddenTrial(trial, spec.search)
    update: dict[str, Any] = {}
    for step in ("scale", "select", "resample", "classifier"):
        choices = getattr(spec.search, step)
        if choices:
            update[step] = trial.suggest_categorical(step, choices)
    select = update.get("select", spec.select)
    if spec.search.tune_select:
        update["select_params"] = SELECTORS.get(select).space(trial, f"select.{select}.")
    resample = update.get("resample", spec.resample)
    if resample != spec.resample or spec.search.resample:
        update["resample_params"] = RESAMPLERS.get(resample).space(trial, f"resample.{resample}.")
    classifier = update.get("classifier", spec.classifier)
    if spec.search.tune_classifier:
        update["classifier_params"] = CLASSIFIERS.get(classifier).space(trial, f"{classifier}.")
    return spec.model_copy(update=update)


def feature_counts(pipeline: Pipeline, names: list[str]) -> dict[str, int] | None:
    """How many features enter a fitted pipeline and remain after each filtering step
    (``redundancy``, ``select``) and at the classifier; None for an ensemble."""
    if getattr(pipeline, "estimators_", None) is not None or not hasattr(pipeline, "steps"):
        return None
    counts = {"input": len(names)}
    current = len(names)
    for step_name, step in pipeline.steps[:-1]:
        if step_name in {"redundancy", "select"}:
            current = int(np.sum(step.get_support()))
            counts[step_name] = current
    counts["classifier"] = len(selected_features(pipeline, names))
    return counts


def selected_features(pipeline: Pipeline, names: list[str]) -> list[str]:
    """Names of the features that reach the classifier of a fitted pipeline.

    For a ``SoftVotingEnsemble``: the union of its members' features, those more members use
    first (then in input order).
    """
    members = getattr(pipeline, "estimators_", None)
    if members is not None:
        counts: dict[str, int] = {}
        for member in members:
            for name in selected_features(member, names):
                counts[name] = counts.get(name, 0) + 1
        order = {name: i for i, name in enumerate(names)}
        return sorted(counts, key=lambda n: (-counts[n], order.get(n, len(order))))
    current = list(names)
    for step_name, step in pipeline.steps[:-1]:
        if step_name in {"redundancy", "select"}:
            mask = step.get_support()
            current = [n for n, keep in zip(current, mask, strict=True) if keep]
    final = pipeline.steps[-1][1]
    if hasattr(final, "clinical_"):
        radiomics = [n for n in current if n not in final.clinical_columns]
        inner = selected_features(final.radiomics_, radiomics)
        return [*inner, *[v for v in final.clinical_.selected_ if v != "rad_score"]]
    if hasattr(final, "selected_"):
        return [n for n in final.selected_ if n in current]
    return current
