"""Leakage-safe models: registries of pipeline steps, grouped / nested validation with Optuna,
clinical and combined logistic models, nomograms, explanations and frozen models."""

from livermets.models.aggregate import AGGREGATORS, aggregate_patients
from livermets.models.clinical import ClinicalLogit, CombinedModel, rad_score, univariable_table
from livermets.models.default_search import (
    DEFAULT_SEARCH_SPEC,
    PORTFOLIO,
    DefaultSearchClassifier,
    search_choice,
)
from livermets.models.ensemble import SoftVotingEnsemble
from livermets.models.frozen import FrozenModel, load_model, predict_table, save_model
from livermets.models.grouping import GroupedCalibratedClassifier, fit_pipeline, grouped_splits
from livermets.models.pipeline import (
    PipelineSpec,
    Range,
    SearchSpace,
    build_pipeline,
    selected_features,
)
from livermets.models.registry import Registry
from livermets.models.steps import CLASSIFIERS, IMPUTERS, RESAMPLERS, SCALERS, SELECTORS
from livermets.models.transformers import (
    MRMR,
    AdaptiveSMOTE,
    CorrelationFilter,
    L1Selector,
    RFPermutationTopK,
    TopKAnova,
    TopKBhattacharyya,
    bhattacharyya_radmlbench,
    bhattacharyya_two_sided,
)
from livermets.models.validation import (
    FeatureData,
    Fold,
    Tuning,
    check_groups_not_split,
    fit_spec,
    fixed_split,
    grouped_kfold,
    predictions_table,
    run_folds,
    thresholds_table,
)

__all__ = [
    "AGGREGATORS",
    "CLASSIFIERS",
    "DEFAULT_SEARCH_SPEC",
    "IMPUTERS",
    "MRMR",
    "PORTFOLIO",
    "RESAMPLERS",
    "SCALERS",
    "SELECTORS",
    "AdaptiveSMOTE",
    "ClinicalLogit",
    "CombinedModel",
    "CorrelationFilter",
    "DefaultSearchClassifier",
    "FeatureData",
    "Fold",
    "FrozenModel",
    "GroupedCalibratedClassifier",
    "L1Selector",
    "PipelineSpec",
    "RFPermutationTopK",
    "Range",
    "Registry",
    "SearchSpace",
    "SoftVotingEnsemble",
    "TopKAnova",
    "TopKBhattacharyya",
    "Tuning",
    "aggregate_patients",
    "bhattacharyya_radmlbench",
    "bhattacharyya_two_sided",
    "build_pipeline",
    "check_groups_not_split",
    "fit_pipeline",
    "fit_spec",
    "fixed_split",
    "grouped_kfold",
    "grouped_splits",
    "load_model",
    "predict_table",
    "predictions_table",
    "rad_score",
    "run_folds",
    "save_model",
    "search_choice",
    "selected_features",
    "thresholds_table",
    "univariable_table",
]
