"""A study's analysis: features -> splits -> cross-validated models -> final refit -> metrics
(``livermets.pipeline`` then draws the report); each stage cached under the output folder, so a
re-run reuses what has not changed."""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livermets import __version__
from livermets._atomic import write_table, write_text
from livermets._cache import dump_cached, load_cached
from livermets._code import code_fingerprint
from livermets.errors import ConfigError, DataError
from livermets.models.aggregate import aggregate_patients
from livermets.models.frozen import package_versions, save_model
from livermets.models.ood import REFERENCE_KEY, training_reference
from livermets.models.pipeline import PipelineSpec, SearchSpace
from livermets.models.validation import (
    FeatureData,
    FitResult,
    Fold,
    FoldOutcome,
    check_training_classes,
    derive_seed,
    fit_spec,
    fixed_split,
    fold_features_table,
    grouped_kfold,
    predictions_table,
    run_folds,
    thresholds_table,
)
from livermets.study.config import StudyConfig, fit_fingerprint, load_config
from livermets.study.data import build_feature_data, clinical_encoding, read_table, table_hash
from livermets.study.feasibility import check_design
from livermets.study.load import write_study_record
from livermets.study.metrics import comparisons, model_metrics

# fold progress: False (silent), True (stderr) or a callable taking one message
Progress = bool | Callable[[str], None]


@dataclass(frozen=True)
class FinalModel:
    """A model refit on all development rows."""

    spec: PipelineSpec
    fit: FitResult
    folder: Path
    card: dict[str, Any]


@dataclass(kw_only=True, frozen=True)
class StudyResult:
    """Everything a study run produced (tables in memory, paths on disk); frozen: the tables and
    dicts it holds are the run's outputs (the pipeline adds only the report's tables to
    ``metrics`` and its time to ``timings``)."""

    config: StudyConfig
    out: Path
    data: FeatureData
    table: pd.DataFrame
    specs: list[PipelineSpec]
    development: np.ndarray
    folds: list[Fold]
    outcomes: list[FoldOutcome]
    predictions: pd.DataFrame
    thresholds: pd.DataFrame
    patient_predictions: pd.DataFrame | None
    metrics: dict[str, Any]
    finals: dict[str, FinalModel]
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: list[str] = field(default_factory=list)
    radiomics: dict[str, Any] | None = None
    tracking_run: str | None = None
    multiphase: Any = None  # the multi-phase workflow's result, with a multiphase section
    fold_features: pd.DataFrame = field(default_factory=pd.DataFrame)  # features of each fit

    @property
    def report_path(self) -> Path:
        """Where the HTML report is."""
        return self.out / "report.html"


def cache_key(config: StudyConfig, data_key: str, spec: PipelineSpec, stage: str) -> str:
    """The cache key of one model's cross-validation (``cv``) or final refit (``final``): the
    data's content hash, the settings that change fitting (``FIT_FIELDS``; not ``compute``), the
    model's spec, the livermets version and code, and the versions of the libraries that fit
    (scikit-learn, Optuna, XGBoost...: an upgrade can change a fit)."""
    return fit_fingerprint(config, data_key, spec.model_dump(mode="json"), __version__,
                           code_fingerprint(), package_versions(), stage)


def study_specs(config: StudyConfig) -> list[PipelineSpec]:
    """The configured models plus, with a clinical section, the clinical and combined models."""
    specs = list(config.models)
    if config.clinical is None:
        return specs
    c = config.clinical
    no_search = SearchSpace(tune_classifier=False, tune_select=False)
    params = {"selection": c.selection, "p_threshold": c.p_threshold, "method": c.method}
    base = next((m for m in specs if m.name == c.radiomics_model), specs[0])
    specs.append(PipelineSpec(name="clinical", inputs="clinical", scale="none", redundancy=None,
                              select="none", classifier="clinical_logit",
                              classifier_params=params, search=no_search))
    if c.combined:
        specs.append(PipelineSpec(name="combined", inputs="combined", base=base,
                                  classifier="clinical_logit", classifier_params=params,
                                  search=no_search))
    return specs


def make_folds(config: StudyConfig, data: FeatureData) -> tuple[np.ndarray, list[Fold]]:
    """Development rows and all outer folds of the validation design (global row indices)."""
    v = config.validation
    held: list[Fold] = []
    if v.design in ("cv", "nested_cv"):
        development = np.arange(len(data.y))
    elif v.design == "three_way":  # no CV: train, validation and test splits (study.splits)
        from livermets.study.splits import data_splits

        return data_splits(config, data).train, []
    elif v.design == "fixed_split":
        if "split" not in data.meta:
            raise DataError(
                f"validation.design fixed_split needs the split column "
                f"{config.data.split_column!r} in the table (values train / test / external)."
            )
        held = fixed_split(data.meta["split"].to_numpy(), v.train_values)
        development = held[0].train
    else:
        if "centre" not in data.meta:
            raise DataError(
                f"validation.design external needs the centre column {config.data.centre_column!r}"
            )
        centre = data.meta["centre"].astype(str).to_numpy()
        unknown = sorted(set(v.test_centres) - set(centre))
        if unknown:
            raise ConfigError(
                f"validation.test_centres {unknown} are not centres of the data; centres: "
                f"{sorted(set(centre))}"
            )
        external = np.isin(centre, v.test_centres)
        development = np.flatnonzero(~external)
        held = [Fold(0, 0, development, np.flatnonzero(external), "external")]
    check_training_classes(held, data.y, data.patient_id, data.classes,
                           f"validation.design {v.design}",
                           "Put patients of every class in the development rows.")
    dev_y, dev_groups = data.y[development], data.patient_id[development]
    inner = grouped_kfold(dev_y, dev_groups, v.folds, v.repeats, config.seed,
                          classes=data.classes)
    folds = [Fold(f.repeat, f.fold, development[f.train], development[f.test]) for f in inner]
    return development, folds + held


def _splits_table(folds: list[Fold], data: FeatureData) -> pd.DataFrame:
    """Which patient is in training or test rows of every fold (saved as a file of ids)."""
    rows = []
    for f in folds:
        for role, idx in (("train", f.train), ("test", f.test)):
            for pid in np.unique(data.patient_id[idx]):
                rows.append((f.repeat, f.fold, f.split, role, pid))
    return pd.DataFrame(rows, columns=["repeat", "fold", "kind", "role", "patient_id"])


class _Stage:
    """Times one stage and reports it."""

    def __init__(self, timings: dict[str, float], on_stage: Callable[[str], None] | None):
        self.timings, self.on_stage = timings, on_stage

    def __call__(self, name: str) -> Callable[[], None]:
        if self.on_stage is not None:
            self.on_stage(name)
        start = time.perf_counter()
        return lambda: self.timings.__setitem__(name, round(time.perf_counter() - start, 2))


def load_cases(config: StudyConfig, out: Path, workers: int, client: Any = None
               ) -> tuple[pd.DataFrame, dict | None]:
    """The feature table (read, or extracted from the manifest and cached) and its provenance."""
    if config.data.features is not None:
        from livermets.radiomics.provenance import table_provenance

        table = read_table(config.data.features)
        return table, table_provenance(table, config.data.features)
    from livermets.study.extract import extract_features

    return extract_features(config, out, workers, client)


def analyse_study(
    config: StudyConfig | str | Path,
    out: str | Path,
    workers: int | None = None,
    progress: Progress = False,
    on_stage: Callable[[str], None] | None = None,
    scheduler: Any = None,
) -> StudyResult:
    """Run a study's analysis into ``out`` (features, splits, nested CV, metrics, final models;
    no report: ``livermets.pipeline.run_study`` adds it); ``scheduler`` (address or Client)
    overrides the config's."""
    if not isinstance(config, StudyConfig):
        config = load_config(config)
    config = _marked_synthetic(config)
    key = "--scheduler" if scheduler is not None else "compute.scheduler"
    scheduler = scheduler if scheduler is not None else config.compute.scheduler
    if scheduler is None:
        return _run_study(config, Path(out), workers, progress, on_stage, None)
    from livermets.models.cluster import connect

    client, own = connect(scheduler, key)
    try:
        return _run_study(config, Path(out), workers, progress, on_stage, client)
    finally:
        if own:
            client.close()


def _marked_synthetic(config: StudyConfig) -> StudyConfig:
    """``config`` with ``synthetic: true`` when its manifest's folder is a ``livermets synth``
    cohort (a report of simulated patients must say so, whatever the YAML says)."""
    from livermets.cohort.synthetic import synthetic_origin

    manifest = config.data.manifest
    if config.synthetic or manifest is None or synthetic_origin(manifest) is None:
        return config
    return config.model_copy(update={"synthetic": True})


def _run_study(
    config: StudyConfig,
    out: Path,
    workers: int | None,
    progress: Progress,
    on_stage: Callable[[str], None] | None,
    client: Any,
) -> StudyResult:
    """The stages of ``analyse_study``; outer folds go to the Dask ``client`` when there is
    one."""
    out.mkdir(parents=True, exist_ok=True)
    if not config.models:
        return _multiphase_only(config, out, progress, on_stage)
    workers = workers or config.compute.workers
    timings: dict[str, float] = {}
    stage = _Stage(timings, on_stage)
    hits: list[str] = []

    three_way = config.validation.design == "three_way"
    if three_way:  # a bad split column fails before any extraction
        from livermets.study.splits import check_manifest_splits

        check_manifest_splits(config)
    if config.deep:  # images, masks and the deep extra are checked before any extraction
        check_deep_inputs(config)
    done = stage("features")
    table, radiomics = load_cases(config, out, workers, client)
    data = build_feature_data(table, config)
    data_key = table_hash(table)
    write_study_record(out, config, data_key)
    done()

    done = stage("splits")
    development, folds = make_folds(config, data)
    if three_way:
        from livermets.study.splits import data_splits, splits_table

        held = data_splits(config, data)
        write_table(splits_table(held, data), out / "splits.parquet")
    else:
        write_table(_splits_table(folds, data), out / "splits.parquet")
    done()

    specs = study_specs(config)
    if not three_way:  # every fit of the design sees every class, before any fitting
        check_design(config, data, development, folds, specs)
    three_fits: dict[str, Any] = {}
    if three_way:
        done = stage("three-way fits")
        outcomes, three_fits = _three_way_outcomes(config, specs, data, held, data_key, out, hits)
        predictions = predictions_table(outcomes, data)
        from livermets.models.threeway import three_way_thresholds

        thresholds = three_way_thresholds(three_fits)
        write_table(predictions, out / "predictions.parquet")
        write_table(thresholds, out / "thresholds.parquet")
        done()
    else:
        outcomes, predictions, thresholds = _cross_validate(
            config, specs, data, folds, development, data_key, out, workers, progress, client,
            hits, stage)

    fold_features = fold_features_table(outcomes)
    write_table(fold_features, out / "fold_features.parquet")

    done = stage("metrics")
    patient_predictions = None
    if data.lesion_id is not None:
        diameter = None
        if "diameter_mm" in data.meta:
            diameter = pd.DataFrame({"patient_id": data.patient_id, "lesion_id": data.lesion_id,
                                     "diameter_mm": data.meta["diameter_mm"].to_numpy()})
        patient_predictions = aggregate_patients(predictions, config.aggregation,
                                                 data.classes[-1], diameter, thresholds)
        write_table(patient_predictions, out / "predictions_patients.parquet")
    subgroups = {}
    for name in config.subgroups:
        if name in data.meta:
            subgroups[name] = _case_table(data).assign(**{name: data.meta[name].to_numpy()})
    metrics = {
        "study": config.name, "seed": config.seed, "design": config.validation.design,
        "classes": [str(c) for c in data.classes], "n_cases": len(data.y),
        "n_patients": len(np.unique(data.patient_id)), "livermets_version": __version__,
        "synthetic": config.synthetic,
        "models": model_metrics(predictions, thresholds, data.classes, subgroups,
                                patient_predictions, config.validation.bootstrap, config.seed),
        "comparisons": comparisons(predictions, data.classes),
    }
    if three_way:
        from livermets.study.splits import three_way_summary

        metrics["three_way"] = three_way_summary(config, held, data)
    metrics["warnings"] = [w for m in metrics["models"].values() for w in m.get("warnings", [])]
    write_metrics(out, metrics)
    done()

    done = stage("final models")
    finals = {}
    dev = data.subset(development)
    encoding = clinical_encoding(table, config.data.clinical)
    dev_table = table.reset_index(drop=True).iloc[development]
    for spec in specs:
        chosen = three_fits[spec.name].fit if three_way else None
        finals[spec.name] = _final_model(config, spec, dev, data_key, out, encoding, radiomics,
                                         metrics, hits, chosen, dev_table)
        _warn_logistic(spec.name, finals[spec.name])
    done()

    multiphase = None
    if config.multiphase is not None:
        from livermets.study.multiphase import multiphase_metrics, run_multiphase_section

        done = stage("multiphase")
        multiphase = run_multiphase_section(config, out, _say(progress))
        metrics["multiphase"] = multiphase_metrics(multiphase)
        write_metrics(out, metrics)
        done()

    deep_specs = [*config.deep, *(e for d in config.deep for e in d.embedding_models())]
    result = StudyResult(config=config, out=out, data=data, table=table,
                         specs=[*specs, *deep_specs], development=development, folds=folds,
                         outcomes=outcomes, predictions=predictions, thresholds=thresholds,
                         patient_predictions=patient_predictions, metrics=metrics, finals=finals,
                         timings=timings, cache_hits=hits, radiomics=radiomics,
                         multiphase=multiphase, fold_features=fold_features)
    write_text(out / "timings.json", json.dumps(timings, indent=2))
    return result


def check_deep_inputs(config: StudyConfig) -> None:
    """Each deep model's manifest loads and has the mask of its crop region; torch is here."""
    from livermets._extras import require
    from livermets.cohort import load_manifest
    from livermets.deep.study import region_manifest

    require("deep", "a study with deep models (deep:)")
    for spec in config.deep:
        manifest = spec.manifest or config.data.manifest
        if manifest is None:
            raise ConfigError(
                f"deep model {spec.name!r} needs images: set data.manifest or deep[].manifest."
            )
        loaded = region_manifest(load_manifest(manifest), spec.crops.region)
        if "lesion_mask" not in loaded.table or loaded.table["lesion_mask"].isna().all():
            raise ConfigError(f"deep model {spec.name!r}: {manifest} has no lesion masks to "
                              "crop; set deep[].crops.region to primary or liver for a "
                              "patient-level CNN on those masks.")


def _warn_logistic(name: str, final: FinalModel) -> None:
    """Separation, events-per-variable and sample-size problems of a final clinical or combined
    model, as warnings on stderr (the report says the same)."""
    from livermets.models.clinical import clinical_logit_of

    logit = clinical_logit_of(final.fit.pipeline)
    for message in getattr(logit, "warnings_", []):
        warnings.warn(f"{name} model: {message}", UserWarning, stacklevel=3)


def _cross_validate(config: StudyConfig, specs: list[PipelineSpec], data: FeatureData,
                    folds: list[Fold], development: np.ndarray, data_key: str, out: Path,
                    workers: int, progress: Progress, client: Any, hits: list[str],
                    stage: _Stage) -> tuple[list[FoldOutcome], pd.DataFrame, pd.DataFrame]:
    """Every model on every outer fold (cached per model), plus the deep models."""
    done = stage("cross-validation")
    outcomes: list[FoldOutcome] = []
    for spec in specs:
        key = cache_key(config, data_key, spec, "cv")
        path = out / "cache" / f"cv-{spec.name}-{key}.joblib"
        cached = load_cached(path)
        if cached is None:
            cached = run_folds([spec], data, folds, config.validation.tuning, config.seed,
                               workers=workers, on_done=_progress(progress, spec.name, len(folds)),
                               client=client)
            dump_cached(path, cached)
        else:
            hits.append(f"cv:{spec.name}")
        outcomes.extend(cached)
    if config.deep:
        from livermets.deep.study import run_deep_models

        outcomes.extend(run_deep_models(config, data, folds, development, out, _say(progress)))
    predictions = predictions_table(outcomes, data)
    thresholds = thresholds_table(outcomes)
    write_table(predictions, out / "predictions.parquet")
    write_table(thresholds, out / "thresholds.parquet")
    done()
    return outcomes, predictions, thresholds


def _three_way_outcomes(config: StudyConfig, specs: list[PipelineSpec], data: FeatureData,
                        held: Any, data_key: str, out: Path, hits: list[str]
                        ) -> tuple[list[FoldOutcome], dict[str, Any]]:
    """Per model (cached): fit on train, choose on validation, predict test once."""
    from livermets.models.threeway import fit_three_way

    outcomes: list[FoldOutcome] = []
    fits: dict[str, Any] = {}
    for spec in specs:
        key = cache_key(config, data_key, spec, "three_way")
        path = out / "cache" / f"three_way-{spec.name}-{key}.joblib"
        fit = load_cached(path)
        if fit is None:
            fit = fit_three_way(spec, data, held, config.validation.tuning, config.seed)
            dump_cached(path, fit)
        else:
            hits.append(f"three_way:{spec.name}")
        fits[spec.name] = fit
        outcomes.extend(fit.outcomes)
    return outcomes, fits


def _say(progress: Progress) -> Callable[[str], None] | None:
    """The progress logger: the caller's callable, stderr for ``True``, None for ``False``."""
    if callable(progress):
        return progress
    if not progress:
        return None
    return lambda message: print(message, file=sys.stderr, flush=True)


def _multiphase_only(config: StudyConfig, out: Path, progress: Progress,
                     on_stage: Callable[[str], None] | None) -> StudyResult:
    """A study with only a ``multiphase`` section: train, test and metrics.json."""
    from livermets.study.multiphase import multiphase_metrics, run_multiphase_section

    timings: dict[str, float] = {}
    write_study_record(out, config, None)
    done = _Stage(timings, on_stage)("multiphase")
    multiphase = run_multiphase_section(config, out, _say(progress))
    done()
    metrics = {"study": config.name, "seed": config.seed, "livermets_version": __version__,
               "synthetic": config.synthetic, "models": {},
               "multiphase": multiphase_metrics(multiphase)}
    write_metrics(out, metrics)
    write_text(out / "timings.json", json.dumps(timings, indent=2))
    empty = pd.DataFrame()
    return StudyResult(config=config, out=out, data=None, table=empty,  # type: ignore[arg-type]
                       specs=[], development=np.empty(0, dtype=int), folds=[], outcomes=[],
                       predictions=empty, thresholds=empty, patient_predictions=None,
                       metrics=metrics, finals={}, timings=timings, cache_hits=[],
                       radiomics=None, multiphase=multiphase)


def write_metrics(out: Path, metrics: dict[str, Any]) -> Path:
    """Write ``out/metrics.json`` (NaN and numpy values made JSON-safe) atomically."""
    return write_text(out / "metrics.json", json.dumps(clean_json(metrics), indent=2))


def _case_table(data: FeatureData) -> pd.DataFrame:
    """Case identifiers (patient and, for lesion tasks, lesion) of every row."""
    table = pd.DataFrame({"patient_id": data.patient_id})
    if data.lesion_id is not None:
        table["lesion_id"] = data.lesion_id
    return table


def clean_json(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays converted, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _progress(progress: Progress, name: str, total: int) -> Callable[[FoldOutcome], None] | None:
    """A callback that reports fold progress through the progress logger."""
    say = _say(progress)
    if say is None:
        return None
    count = {"n": 0}

    def tick(outcome: FoldOutcome) -> None:
        count["n"] += 1
        say(f"  {name}: fold {count['n']}/{total}")

    return tick


def _final_model(config: StudyConfig, spec: PipelineSpec, dev: FeatureData, data_key: str,
                 out: Path, encoding: dict[str, list[str]], radiomics: dict | None,
                 metrics: dict[str, Any], hits: list[str],
                 chosen: FitResult | None = None,
                 dev_table: pd.DataFrame | None = None) -> FinalModel:
    """Refit on all development rows (cached), save the pipeline and its model card (with the
    training reference of the out-of-distribution check when ``dev_table`` is given); with
    ``chosen`` (three_way) the model chosen on validation is saved as it is, not refitted."""
    key = cache_key(config, data_key, spec, "three_way" if chosen is not None else "final")
    folder = out / "models" / spec.name
    cache = out / "cache" / f"final-{spec.name}-{key}.joblib"
    fit = chosen if chosen is not None else load_cached(cache)
    if fit is None:
        fit = fit_spec(spec, dev, config.validation.tuning, derive_seed(config.seed, spec.name,
                                                                         "final"))
        dump_cached(cache, fit)
    elif chosen is None:
        hits.append(f"final:{spec.name}")
    columns = dev.columns_for(fit.spec)
    card = {
        "model": spec.name,
        "study": config.name,
        "task": config.task,
        "level": config.data.level,
        "classes": [c.item() if isinstance(c, np.generic) else c for c in dev.classes],
        "positive": str(dev.classes[-1]) if dev.binary else None,
        "patient_column": config.data.patient_column,
        "id_column": (config.data.id_column or "lesion_id") if config.data.level == "lesion"
        else None,
        "inputs": spec.inputs,
        "input_columns": columns,
        "radiomics_features": [c for c in columns if c not in dev.clinical_columns],
        "clinical_encoding": encoding if spec.inputs != "radiomics" else {},
        "selected_features": fit.features,
        "params": fit.spec.model_dump(mode="json"),
        "ensemble": [m.model_dump(mode="json") for m in fit.members],  # empty: a single model
        "threshold": fit.threshold,
        "threshold_rule": ("Youden index on the validation rows' predictions" if chosen
                           is not None else
                           "Youden index on inner-fold predictions of the training data"),
        "radiomics": radiomics,
        "training": {"n_cases": len(dev.y), "n_patients": len(np.unique(dev.patient_id)),
                     "class_counts": {str(c): int((dev.y == k).sum())
                                      for k, c in enumerate(dev.classes)}},
        "validation": {"design": config.validation.design,
                       **clean_json(metrics["models"].get(spec.name, {}).get("splits", {}))},
        "seed": config.seed,
        "cache_key": key,
        "synthetic": config.synthetic,
    }
    if dev_table is not None:
        numeric = [n for n, levels in card["clinical_encoding"].items() if not levels]
        card[REFERENCE_KEY] = training_reference(dev_table,
                                                 [*card["radiomics_features"], *numeric])
    save_model(folder, fit.pipeline, card)
    if radiomics and radiomics.get("params"):
        import yaml

        write_text(folder / "radiomics_params.yaml", yaml.safe_dump(radiomics["params"]))
    return FinalModel(spec, fit, folder, card)
