"""Leakage-free validation: grouped repeated CV, nested CV with Optuna, fixed and external splits.

Every fold is fitted in its own task with a seed derived from (study seed, model, repeat, fold),
so the predictions do not depend on the number of workers or the order tasks finish.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from livermets.errors import ConfigError, DataError
from livermets.models.ensemble import SoftVotingEnsemble
from livermets.models.grouping import fit_pipeline
from livermets.models.pipeline import PipelineSpec, build_pipeline, sample_spec, selected_features

PREDICTION_COLUMNS = ("patient_id", "lesion_id", "model", "repeat", "fold", "split", "y_true")


@dataclass
class FeatureData:
    """Features, encoded outcome, patient groups and per-row metadata of one study."""

    X: pd.DataFrame
    y: np.ndarray
    classes: list[Any]
    patient_id: np.ndarray
    lesion_id: np.ndarray | None = None
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    clinical_columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Check that every array has one entry per row."""
        n = len(self.X)
        for name in ("y", "patient_id"):
            if len(getattr(self, name)) != n:
                raise DataError(f"{name} has {len(getattr(self, name))} rows, features have {n}.")

    @property
    def binary(self) -> bool:
        """Whether the outcome has exactly two classes."""
        return len(self.classes) == 2

    def subset(self, index: np.ndarray) -> FeatureData:
        """The rows at ``index``."""
        return FeatureData(
            self.X.iloc[index].reset_index(drop=True), self.y[index], self.classes,
            self.patient_id[index], None if self.lesion_id is None else self.lesion_id[index],
            self.meta.iloc[index].reset_index(drop=True) if len(self.meta) else self.meta,
            self.clinical_columns,
        )

    @property
    def radiomics_columns(self) -> list[str]:
        """Feature columns that are not clinical variables."""
        return [c for c in self.X.columns if c not in set(self.clinical_columns)]

    def columns_for(self, spec: PipelineSpec) -> list[str]:
        """The columns a model reads, by its ``inputs``."""
        if spec.inputs == "clinical":
            return list(self.clinical_columns)
        if spec.inputs == "combined":
            return [*self.radiomics_columns, *self.clinical_columns]
        return self.radiomics_columns


@dataclass(frozen=True)
class Fold:
    """One outer split: training and test row indices and the test rows' split name."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray
    split: str = "cv"


class Tuning(BaseModel):
    """Inner-loop settings: Optuna TPE trials (0 = no tuning) on grouped inner folds.

    ``ensemble`` > 1 keeps the ``ensemble`` best distinct configurations of the search (by inner
    AUC) instead of the best one: each is refitted on the training rows and their probabilities
    are averaged (``SoftVotingEnsemble``); the cut-off comes from their averaged inner-fold
    predictions. Radiomics models only: clinical and combined models keep their single best
    configuration (their odds-ratio tables and nomograms need one logistic model).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: int = Field(default=0, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)
    inner_folds: int = Field(default=3, ge=2)
    ensemble: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _enough_trials(self) -> Tuning:
        if self.ensemble > 1 and self.trials < self.ensemble:
            raise ValueError(
                f"tuning.ensemble = {self.ensemble} averages the {self.ensemble} best tuning "
                f"trials; it needs tuning.trials >= {self.ensemble} (got {self.trials})"
            )
        return self


def derive_seed(seed: int, *keys: object) -> int:
    """A 31-bit seed from the study seed and keys (stable across processes and runs)."""
    words = [seed] + [zlib.crc32(str(k).encode()) for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


def _check_folds(n_splits: int, y: np.ndarray, groups: np.ndarray, where: str) -> None:
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise DataError(
            f"{where}: {n_groups} patients cannot fill {n_splits} folds; lower the number of "
            "folds or add patients."
        )
    if len(np.unique(y)) < 2:
        raise DataError(f"{where}: the outcome has a single class; a model needs two or more.")


def _class_patients(y: np.ndarray, groups: np.ndarray, classes: Sequence[Any] | None) -> str:
    """'name: n patients' for every class of ``y``."""
    parts = []
    for code in np.unique(y):
        name = classes[int(code)] if classes is not None else code
        parts.append(f"{name}: {len(np.unique(groups[y == code]))} patient(s)")
    return ", ".join(parts)


def check_training_classes(folds: Sequence[Fold], y: np.ndarray, groups: np.ndarray,
                           classes: Sequence[Any] | None, where: str, fix: str) -> None:
    """Raise ``DataError`` naming the first fold whose training rows lack a class."""
    codes = np.unique(y)
    for f in folds:
        missing = np.setdiff1d(codes, y[f.train])
        if missing.size:
            names = [str(classes[int(k)] if classes is not None else k) for k in missing]
            raise DataError(
                f"{where}: repeat {f.repeat} fold {f.fold} trains on "
                f"{len(np.unique(groups[f.train]))} patient(s) with no case of class "
                f"{', '.join(names)}, so no model can be fitted there (the rows split here have "
                f"{_class_patients(y, groups, classes)}). {fix}"
            )


def grouped_kfold(
    y: np.ndarray, groups: np.ndarray, n_splits: int, n_repeats: int = 1, seed: int = 0,
    *, classes: Sequence[Any] | None = None, where: str = "cross-validation",
    fix: str | None = None,
) -> list[Fold]:
    """Repeated stratified k-fold with all rows of a patient in the same fold (seeded shuffles).

    Every training fold must hold every class; ``where`` names the loop and ``fix`` says what to
    change in the error otherwise.
    """
    _check_folds(n_splits, y, groups, where)
    folds = []
    for repeat in range(n_repeats):
        splitter = StratifiedGroupKFold(
            n_splits=n_splits, shuffle=True, random_state=derive_seed(seed, "cv", repeat)
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class")
            try:
                for k, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
                    folds.append(Fold(repeat, k, train, test))
            except ValueError as exc:  # too few rows of every class for n_splits strata
                raise DataError(
                    f"{where}: {n_splits} stratified folds cannot be made from "
                    f"{_class_patients(y, groups, classes)} ({exc}). "
                    + (fix or f"Lower the number of folds (now {n_splits}) or add patients.")
                ) from None
    check_groups_not_split(folds, groups)
    fix = fix or f"Lower validation.folds (now {n_splits}) or add patients of that class."
    check_training_classes(folds, y, groups, classes, where, fix)
    return folds


def fixed_split(split: Sequence[Any], train_values: Sequence[str] = ("train",)) -> list[Fold]:
    """Train on rows whose split is in ``train_values``; test on all other rows.

    The test rows keep their own split name (``test``, ``external``...) in the predictions.
    """
    values = np.asarray([str(s).strip().lower() for s in split], dtype=object)
    is_train = np.isin(values, [v.lower() for v in train_values])
    if not is_train.any() or is_train.all():
        raise DataError(
            f"the split column needs training rows ({', '.join(train_values)}) and test rows; "
            f"found values {sorted(set(values))}."
        )
    return [Fold(0, 0, np.flatnonzero(is_train), np.flatnonzero(~is_train), "column")]


def check_groups_not_split(folds: Sequence[Fold], groups: np.ndarray) -> None:
    """Raise ``DataError`` if any patient has rows on both sides of any fold."""
    for f in folds:
        shared = np.intersect1d(groups[f.train], groups[f.test])
        if shared.size:
            raise DataError(
                f"repeat {f.repeat} fold {f.fold}: patient(s) {[str(s) for s in shared[:5]]} "
                "are in both training and test rows; every lesion of a patient must stay on one "
                "side."
            )


def _auc(y: np.ndarray, prob: np.ndarray, n_classes: int) -> float:
    if n_classes == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    return float(
        roc_auc_score(y, prob, multi_class="ovr", average="macro", labels=range(n_classes))
    )


def _predict(pipeline: Any, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Class probabilities with one column per encoded class, even if a class was unseen."""
    raw = pipeline.predict_proba(X)
    seen = np.asarray(pipeline.classes_, dtype=int)
    out = np.zeros((len(X), n_classes))
    out[:, seen] = raw
    return out


def inner_folds(data: FeatureData, seed: int, n_folds: int) -> list[Fold]:
    """The grouped inner folds of a training set (the same for every configuration tried)."""
    n_folds = min(n_folds, len(np.unique(data.patient_id)))
    return grouped_kfold(data.y, data.patient_id, n_folds, 1, derive_seed(seed, "inner"),
                         classes=data.classes, where="inner cross-validation",
                         fix=f"Lower validation.tuning.inner_folds (now {n_folds}) or "
                         "validation.folds (each training set then holds more patients), or add "
                         "patients of that class.")


def inner_oof(
    spec: PipelineSpec, data: FeatureData, seed: int, n_folds: int
) -> np.ndarray:
    """Out-of-fold probabilities of ``spec`` on ``data`` from grouped inner folds."""
    folds = inner_folds(data, seed, n_folds)
    template = build_pipeline(spec, seed, tuple(data.clinical_columns))
    X = data.X[data.columns_for(spec)]
    oof = np.zeros((len(data.y), len(data.classes)))
    for f in folds:
        model = fit_pipeline(clone(template), X.iloc[f.train], data.y[f.train],
                             data.patient_id[f.train])
        oof[f.test] = _predict(model, X.iloc[f.test], len(data.classes))
    return oof


@dataclass
class Candidate:
    """One configuration found by the inner search: its spec, inner OOF probabilities, AUC."""

    spec: PipelineSpec
    oof: np.ndarray
    inner_auc: float
    trial: int


def tune(
    spec: PipelineSpec, data: FeatureData, tuning: Tuning, seed: int
) -> tuple[PipelineSpec, np.ndarray, pd.DataFrame]:
    """Optuna TPE search on grouped inner folds: best spec, its inner OOF probabilities, trials."""
    ranked, trials = search(spec, data, tuning, seed)
    return ranked[0].spec, ranked[0].oof, trials


def run_tpe(objective: Callable[[Any], float], tuning: Tuning, seed: int,
            failed: str) -> Any:
    """A seeded Optuna TPE study maximising ``objective`` over ``tuning.trials`` trials; a
    ``DataError`` with ``failed`` (``{n}`` = number of trials) when no trial completes."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=derive_seed(seed, "tpe"))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=tuning.trials, timeout=tuning.timeout_s,
                   catch=(ValueError, np.linalg.LinAlgError))
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise DataError(failed.replace("{n}", str(len(study.trials))))
    return study


def search(
    spec: PipelineSpec, data: FeatureData, tuning: Tuning, seed: int, top: int = 1
) -> tuple[list[Candidate], pd.DataFrame]:
    """Optuna TPE search on grouped inner folds: the ``top`` best distinct configurations (by
    inner AUC, ties to the earlier trial; a trial that repeats an earlier one's configuration
    is skipped) and the trials table.

    Every trial scores the same inner folds (seeded by ``seed``), so the candidates' OOF
    probabilities can be averaged row by row.
    """
    import optuna

    oofs: dict[int, np.ndarray] = {}

    def objective(trial: optuna.Trial) -> float:
        candidate = sample_spec(spec, trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            oof = inner_oof(candidate, data, seed, tuning.inner_folds)
        oofs[trial.number] = oof
        return _auc(data.y, oof, len(data.classes))

    study = run_tpe(objective, tuning, seed, f"every one of {{n}} tuning trials of model "
                    f"{spec.name!r} failed; check the data (too few cases per class?) or the "
                    "search space.")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    ranked: list[Candidate] = []
    seen: set[str] = set()
    for t in sorted(complete, key=lambda t: (-t.value, t.number)):
        chosen = sample_spec(spec, optuna.trial.FixedTrial(t.params))
        key = chosen.model_dump_json()
        if key in seen:
            continue
        seen.add(key)
        ranked.append(Candidate(chosen, oofs[t.number], float(t.value), t.number))
        if len(ranked) == top:
            break
    trials = study.trials_dataframe(attrs=("number", "value", "params", "state"))
    return ranked, trials


@dataclass
class FitResult:
    """A pipeline fitted on one training set, with what the inner loop chose.

    With ``tuning.ensemble`` > 1, ``pipeline`` is a ``SoftVotingEnsemble``, ``spec`` its best
    member, ``members`` / ``member_inner_auc`` every member's spec and inner AUC (best first),
    and ``train_oof`` / ``inner_auc`` / ``threshold`` come from the members' averaged inner OOF
    probabilities; ``features`` is the union of the members' features.
    """

    spec: PipelineSpec
    pipeline: Any
    train_oof: np.ndarray
    features: list[str]
    threshold: float | None
    inner_auc: float
    members: list[PipelineSpec] = field(default_factory=list)
    member_inner_auc: list[float] = field(default_factory=list)


def youden_threshold(y: np.ndarray, prob: np.ndarray) -> float | None:
    """Youden cut-off of positive-class probabilities (None if a class is missing).

    pROC's curve ends at -inf / +inf (everyone / no one positive); when Youden picks an end, the
    cut is moved into [0, 1] with the same calls (0, or just above 1), so cards stay valid JSON.
    """
    from livermets.stats import operating_point

    if len(np.unique(y)) < 2:
        return None
    cut = float(operating_point(y, prob, "youden", positive=1, direction="<").threshold)
    return float(np.clip(cut, 0.0, np.nextafter(1.0, 2.0)))


BINARY_SELECTORS = ("bhattacharyya", "bhattacharyya_radmlbench")


def check_outcome(spec: PipelineSpec, data: FeatureData) -> None:
    """Refuse, before any fitting, steps that cannot handle the outcome's number of classes."""
    if data.binary:
        return
    used = sorted({spec.select, *spec.search.select} & set(BINARY_SELECTORS))
    if used:
        raise ConfigError(
            f"model {spec.name!r}: selector(s) {', '.join(used)} score two classes, but the "
            f"outcome has {len(data.classes)}; use anova, mrmr, lasso or rf_permutation."
        )


SELF_VALIDATING = ("default_search",)


def self_validating(spec: PipelineSpec) -> bool:
    """Whether ``spec``'s classifier makes its own patient-grouped inner folds and keeps their
    out-of-fold probabilities (``oof_``), with nothing else to search: it is fitted once, with
    no Optuna trials (they would repeat the same search) and no inner-fold loop around it."""
    steps = spec.search
    return (spec.inputs == "radiomics" and spec.classifier in SELF_VALIDATING
            and not (steps.scale or steps.select or steps.resample or steps.classifier))


def fit_spec(spec: PipelineSpec, data: FeatureData, tuning: Tuning, seed: int) -> FitResult:
    """Tune (if asked) on inner folds, pick the Youden cut-off on inner OOF, refit on all rows.

    With ``tuning.ensemble`` > 1 (radiomics models) the best configurations are each refitted on
    all rows and averaged, and the cut-off is taken on their averaged inner OOF probabilities.
    A self-validating classifier (``default_search``) is fitted once, tuned or not: its own
    grouped inner folds give the OOF probabilities for the cut-off.
    """
    check_outcome(spec, data)
    fitted = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if tuning.trials > 0 and not self_validating(spec):
            top = tuning.ensemble if spec.inputs == "radiomics" else 1
            candidates, _ = search(spec, data, tuning, seed, top)
        elif self_validating(spec):  # the classifier's own grouped inner folds give the OOF
            fitted = build_pipeline(spec, seed, tuple(data.clinical_columns))
            fit_pipeline(fitted, data.X[data.columns_for(spec)], data.y, data.patient_id)
            oof = fitted.steps[-1][1].oof_
            candidates = [Candidate(spec, oof, _auc(data.y, oof, len(data.classes)), -1)]
        elif uses_inner_folds(data, tuning):
            oof = inner_oof(spec, data, seed, tuning.inner_folds)
            candidates = [Candidate(spec, oof, _auc(data.y, oof, len(data.classes)), -1)]
        else:  # untuned multiclass: no cut-off to choose, so no inner folds (rare classes)
            oof = np.full((len(data.y), len(data.classes)), np.nan)
            candidates = [Candidate(spec, oof, float("nan"), -1)]
        chosen = candidates[0].spec
        columns = data.columns_for(chosen)
        clinical = tuple(data.clinical_columns)
        if fitted is not None:
            oof, pipeline = candidates[0].oof, fitted
        elif len(candidates) == 1:
            oof = candidates[0].oof
            pipeline = build_pipeline(chosen, seed, clinical)
            fit_pipeline(pipeline, data.X[columns], data.y, data.patient_id)
        else:
            oof = np.mean([c.oof for c in candidates], axis=0)
            pipeline = SoftVotingEnsemble([build_pipeline(c.spec, seed, clinical)
                                           for c in candidates])
            pipeline.fit(data.X[columns], data.y, data.patient_id)
    threshold = youden_threshold(data.y, oof[:, 1]) if data.binary else None
    members = candidates if len(candidates) > 1 else []
    return FitResult(
        chosen, pipeline, oof, selected_features(pipeline, columns), threshold,
        candidates[0].inner_auc if len(candidates) == 1 else _auc(data.y, oof, len(data.classes)),
        [c.spec for c in members],
        [c.inner_auc for c in members],
    )


@dataclass
class FoldOutcome:
    """What one outer fold returns: test probabilities and what was chosen on training rows."""

    model: str
    fold: Fold
    prob: np.ndarray
    threshold: float | None
    features: list[str]
    params: dict[str, Any]
    inner_auc: float
    members: list[dict[str, Any]] = field(default_factory=list)
    search_choice: dict[str, Any] | None = None  # the default search's ensemble / fallback


def fold_seed(spec: PipelineSpec, fold: Fold, seed: int) -> int:
    """The seed of one model's fit on one outer fold."""
    return derive_seed(seed, spec.name, fold.repeat, fold.fold, fold.split)


def uses_inner_folds(data: FeatureData, tuning: Tuning) -> bool:
    """Inner folds run to tune, or to choose a binary model's cut-off; an untuned multiclass
    model needs none (so a rare class need not fill every inner training fold)."""
    return tuning.trials > 0 or data.binary


def check_inner_folds(specs: Sequence[PipelineSpec], data: FeatureData, folds: Sequence[Fold],
                      tuning: Tuning, seed: int) -> None:
    """Before any fitting: every inner training fold of every outer fold holds every class."""
    if not uses_inner_folds(data, tuning):
        return
    for fold in folds:
        train = data.subset(fold.train)
        for spec in specs:
            try:
                inner_folds(train, fold_seed(spec, fold, seed), tuning.inner_folds)
            except DataError as exc:
                raise DataError(f"model {spec.name!r}, outer repeat {fold.repeat} fold "
                                f"{fold.fold} ({fold.split}): {exc}") from None


def run_fold(
    spec: PipelineSpec, data: FeatureData, fold: Fold, tuning: Tuning, seed: int
) -> FoldOutcome:
    """Fit on the fold's training rows only and predict its test rows."""
    result = fit_spec(spec, data.subset(fold.train), tuning, fold_seed(spec, fold, seed))
    X_test = data.X[data.columns_for(spec)].iloc[fold.test]
    prob = _predict(result.pipeline, X_test, len(data.classes))
    exclude = {"search", "name", "base"}
    params = result.spec.model_dump(mode="json", exclude=exclude)
    members = [m.model_dump(mode="json", exclude=exclude) for m in result.members]
    from livermets.models.default_search import search_choice

    return FoldOutcome(spec.name, fold, prob, result.threshold, result.features, params,
                       result.inner_auc, members, search_choice(result.pipeline))


def run_folds(
    specs: Sequence[PipelineSpec],
    data: FeatureData,
    folds: Sequence[Fold],
    tuning: Tuning,
    seed: int,
    workers: int = 1,
    on_done: Callable[[FoldOutcome], None] | None = None,
    client: Any = None,
) -> list[FoldOutcome]:
    """Every (model, fold) task: on a Dask ``client``, local processes, or inline; ordered."""
    from joblib import Parallel, delayed

    check_inner_folds(specs, data, folds, tuning, seed)
    tasks = [(spec, fold) for spec in specs for fold in folds]
    if client is not None:
        return _run_on_dask(client, tasks, data, tuning, seed, on_done)
    if workers <= 1:
        outcomes = []
        for spec, fold in tasks:
            outcomes.append(run_fold(spec, data, fold, tuning, seed))
            if on_done is not None:
                on_done(outcomes[-1])
        return outcomes
    runner = Parallel(n_jobs=workers, return_as="generator")
    outcomes = []
    for outcome in runner(delayed(run_fold)(s, data, f, tuning, seed) for s, f in tasks):
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes


def _run_on_dask(
    client: Any,
    tasks: Sequence[tuple[PipelineSpec, Fold]],
    data: FeatureData,
    tuning: Tuning,
    seed: int,
    on_done: Callable[[FoldOutcome], None] | None,
) -> list[FoldOutcome]:
    """The (model, fold) tasks on a Dask cluster (data sent once), results in task order."""
    from distributed import as_completed

    shared = client.scatter(data, broadcast=True)
    futures = [client.submit(run_fold, spec, shared, fold, tuning, seed, pure=False)
               for spec, fold in tasks]
    try:
        for future in as_completed(futures):
            outcome = future.result()
            if on_done is not None:
                on_done(outcome)
        return [future.result() for future in futures]
    finally:
        client.cancel([*futures, shared])


def fold_features_table(outcomes: Sequence[FoldOutcome]) -> pd.DataFrame:
    """The features each outer fit used: one row per model, split, repeat, fold and feature
    (``rank`` in the fit's order), so feature stability can be shown without the fits."""
    rows = [(o.model, o.fold.split, o.fold.repeat, o.fold.fold, rank, feature)
            for o in outcomes for rank, feature in enumerate(o.features)]
    return pd.DataFrame(rows, columns=["model", "split", "repeat", "fold", "rank", "feature"])


def predictions_table(outcomes: Sequence[FoldOutcome], data: FeatureData) -> pd.DataFrame:
    """The predictions table of DESIGN.md: one row per case, model, repeat and fold."""
    frames = []
    for o in outcomes:
        idx = o.fold.test
        split = (
            data.meta["split"].iloc[idx].astype(str).str.strip().str.lower().to_numpy()
            if o.fold.split == "column"
            else np.full(len(idx), o.fold.split, dtype=object)
        )
        frame = pd.DataFrame({
            "patient_id": data.patient_id[idx].astype(str),
            "lesion_id": (data.lesion_id[idx] if data.lesion_id is not None
                          else np.full(len(idx), None, dtype=object)),
            "model": o.model,
            "repeat": o.fold.repeat,
            "fold": o.fold.fold,
            "split": split,
            "y_true": pd.Series(
                np.asarray(data.classes, dtype=object)[data.y[idx]]
            ).infer_objects(),
        })
        if data.binary:
            frame["y_prob"] = o.prob[:, 1]
        else:
            for k, name in enumerate(data.classes):
                frame[f"p_{name}"] = o.prob[:, k]
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if data.lesion_id is None:
        table = table.drop(columns="lesion_id")
    return table


def thresholds_table(outcomes: Sequence[FoldOutcome]) -> pd.DataFrame:
    """Per model, repeat and fold: the Youden cut-off chosen on training rows and inner AUC;
    with a default search among the models, also what it used (``search_used``: ensemble or
    fallback), why and its members (empty for the other models)."""
    table = pd.DataFrame([
        {"model": o.model, "repeat": o.fold.repeat, "fold": o.fold.fold, "split": o.fold.split,
         "threshold": o.threshold, "inner_auc": o.inner_auc, "n_features": len(o.features)}
        for o in outcomes
    ])
    if any(o.search_choice for o in outcomes):
        choices = [o.search_choice or {} for o in outcomes]
        table["search_used"] = [c.get("used", "") for c in choices]
        table["search_reason"] = [c.get("reason", "") for c in choices]
        table["search_members"] = ["+".join(c.get("members", [])) for c in choices]
    return table
