"""Statistics layer: ROC/AUC, AUC comparison, operating points, calibration, decision curves,
survival and MRMC reader-study analysis, computed as the reference R packages compute them."""

from livermets.stats.binomial import mcnemar_test, paired_accuracy_test, proportion_ci
from livermets.stats.bootstrap import bootstrap_auc, bootstrap_test_paired
from livermets.stats.calibration import (
    brier_score,
    calibration,
    calibration_curve,
    calibration_intercept,
    calibration_slope,
    hosmer_lemeshow,
    oe_ratio,
    smoothed_calibration,
)
from livermets.stats.compare import compare_aucs, comparison_table, holm_adjust
from livermets.stats.dca import decision_curve, decision_curve_survival, parse_thresholds
from livermets.stats.delong import delong_covariance, delong_variance, placements
from livermets.stats.mrmc import auc_covariance, mrmc, mrmc_data, pseudovalues
from livermets.stats.roc import multiclass_auc, partial_auc, roc_auc, roc_curve
from livermets.stats.survival import (
    cox_model,
    harrell_c,
    kaplan_meier,
    logrank_test,
    risk_groups,
)
from livermets.stats.thresholds import confusion_metrics, operating_point

__all__ = [
    "auc_covariance",
    "bootstrap_auc",
    "bootstrap_test_paired",
    "brier_score",
    "calibration",
    "calibration_curve",
    "calibration_intercept",
    "calibration_slope",
    "compare_aucs",
    "comparison_table",
    "confusion_metrics",
    "cox_model",
    "decision_curve",
    "decision_curve_survival",
    "delong_covariance",
    "delong_variance",
    "harrell_c",
    "holm_adjust",
    "hosmer_lemeshow",
    "kaplan_meier",
    "logrank_test",
    "mcnemar_test",
    "mrmc",
    "mrmc_data",
    "multiclass_auc",
    "oe_ratio",
    "operating_point",
    "paired_accuracy_test",
    "parse_thresholds",
    "partial_auc",
    "placements",
    "proportion_ci",
    "pseudovalues",
    "risk_groups",
    "roc_auc",
    "roc_curve",
    "smoothed_calibration",
]
