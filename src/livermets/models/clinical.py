"""Clinical models (statsmodels or Firth logistic regression), the rad-score and combined models."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from livermets.errors import DataError
from livermets.models import grouping
from livermets.models.firth import firth_logit
from livermets.models.sample_size import events_per_variable, sample_size_warnings
from livermets.models.separation import Separation, detect_separation

EPS = 1e-6
METHODS = ("ml", "firth", "auto")


def _logit_fit(X: pd.DataFrame, y: np.ndarray) -> Any:
    """A statsmodels Logit with an intercept (Newton, falling back to a tiny ridge)."""
    import statsmodels.api as sm

    design = sm.add_constant(X.astype(float), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.Logit(y, design).fit(disp=0, maxiter=200)
            if np.all(np.isfinite(result.bse)):
                return result
        except np.linalg.LinAlgError:
            pass
        return sm.Logit(y, design).fit_regularized(disp=0, alpha=1e-3, maxiter=500)


@dataclass
class LogitFit:
    """One fitted logistic model as numbers: names (``const`` first), coefficients, Wald SEs,
    CIs and p-values, the method that fitted it and the separation found in its design."""

    names: list[str]
    params: np.ndarray
    bse: np.ndarray
    ci: np.ndarray
    p: np.ndarray
    method: str
    separation: Separation
    converged: bool = True


def fit_logit(X: pd.DataFrame, y: np.ndarray, method: str = "ml", level: float = 0.95
              ) -> LogitFit:
    """Logistic regression with an intercept by maximum likelihood (``ml``), Firth's penalised
    likelihood (``firth``), or Firth only when the design separates the classes (``auto``)."""
    if method not in METHODS:
        raise DataError(f"clinical method {method!r}: use ml, firth or auto")
    names = ["const", *map(str, X.columns)]
    design = np.column_stack([np.ones(len(X)), X.astype(float).to_numpy()])
    separation = detect_separation(design, y, names)
    full_rank = np.linalg.matrix_rank(design) == design.shape[1]
    if method == "firth" or (method == "auto" and separation.kind is not None and full_rank):
        res = firth_logit(design, y)
        return LogitFit(names, res.params, res.bse, res.conf_int(level), res.pvalues, "firth",
                        separation, res.converged)
    result = _logit_fit(X, y)
    return LogitFit(names, result.params.to_numpy(dtype=float), result.bse.to_numpy(dtype=float),
                    result.conf_int(1 - level).to_numpy(dtype=float),
                    result.pvalues.to_numpy(dtype=float), "ml", separation)


def odds_ratio_table(fit: LogitFit) -> pd.DataFrame:
    """Odds ratios with Wald CIs and p-values (no intercept); ``separated`` marks variables whose
    maximum-likelihood estimate is infinite (meaningless numbers unless ``method`` is firth)."""
    keep = slice(1, None)
    with np.errstate(over="ignore"):  # a separated ML fit: exp of a huge coefficient is inf
        return pd.DataFrame({
            "variable": fit.names[keep],
            "coef": fit.params[keep],
            "odds_ratio": np.exp(fit.params[keep]),
            "ci_low": np.exp(fit.ci[keep, 0]),
            "ci_high": np.exp(fit.ci[keep, 1]),
            "p": fit.p[keep],
            "separated": [n in fit.separation.variables for n in fit.names[keep]],
            "method": fit.method,
        })


def univariable_table(X: pd.DataFrame, y: np.ndarray, method: str = "ml") -> pd.DataFrame:
    """One logistic regression per variable: OR, 95% CI and p-value."""
    rows = [odds_ratio_table(fit_logit(X[[c]], y, method)) for c in X.columns]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _names(values: list[str]) -> str:
    return ", ".join(values)


def separates_alone(X: pd.DataFrame, y: np.ndarray) -> list[str]:
    """The variables of ``X`` that separate the classes of ``y`` on their own."""
    return [str(c) for c in X.columns
            if detect_separation(np.column_stack([np.ones(len(X)), X[c].astype(float)]), y,
                                 ["const", str(c)]).kind is not None]


def _separation_warning(kind: str, variables: list[str], alone: list[str], method: str) -> str:
    """Plain words on separation in the multivariable model and what was done about it."""
    text = (f"{kind.capitalize()} separation: a combination of the variables predicts the "
            "outcome classes of the training data perfectly"
            + (f" ({_names(alone)} on its own)" if alone else "")
            + f", so the maximum-likelihood estimates of {_names(variables)} do not exist "
            "(they diverge: software shows a huge OR with CI 0-inf, which is not a result).")
    if method == "firth":
        return text + " The model was fitted with Firth's penalised likelihood instead."
    return text + (" These odds ratios are not estimable; set clinical: method: firth (or auto) "
                   "for Firth's penalised logistic regression.")


class ClinicalLogit(ClassifierMixin, BaseEstimator):
    """Univariable screening (p < threshold, or LASSO, or none) then multivariable logistic
    regression by maximum likelihood, Firth's penalised likelihood, or Firth under separation
    (``method``: ml, firth, auto)."""

    def __init__(self, selection: str = "pvalue", p_threshold: float = 0.05,
                 force: tuple[str, ...] = (), seed: int = 0, method: str = "auto") -> None:
        self.selection = selection
        self.p_threshold = p_threshold
        self.force = force
        self.seed = seed
        self.method = method

    def _choose(self, X: pd.DataFrame, y: np.ndarray) -> tuple[list[str], str]:
        """The selected variables and, in words, the rule that selected them."""
        candidates = [c for c in X.columns if c not in self.force and X[c].std() > 0]
        constant = [c for c in X.columns if c not in self.force and c not in candidates]
        if not candidates and not self.force:
            raise DataError(f"clinical model: every variable ({_names(constant)}) is constant in "
                            "the training rows; add variables that vary between patients.")
        uni = None
        if self.selection == "pvalue":
            uni = univariable_table(X[candidates], y, self.method)
            chosen = uni.loc[uni["p"] < self.p_threshold, "variable"].tolist()
            rule = f"univariable p < {self.p_threshold:g}"
        elif self.selection == "lasso":
            from livermets.models.transformers import L1Selector

            z = (X[candidates] - X[candidates].mean()) / X[candidates].std()
            mask = L1Selector(C=0.5, seed=self.seed).fit(z.to_numpy(), y).get_support()
            chosen = [c for c, keep in zip(candidates, mask, strict=True) if keep]
            rule = "LASSO (L1 logistic, C = 0.5, standardised variables)"
        elif self.selection == "none":
            chosen = candidates
            rule = "no selection"
        else:
            raise DataError(f"clinical selection {self.selection!r}: use pvalue, lasso or none")
        if chosen:
            text = f"{rule}: {_names(chosen)}"
        elif self.force:
            text = f"no variable passed {rule}; the model holds only {_names(list(self.force))}"
        else:  # nothing passed: keep the strongest univariable predictor, and say so
            uni = univariable_table(X[candidates], y, self.method) if uni is None else uni
            best = uni.sort_values("p").iloc[0]
            chosen = [str(best["variable"])]
            text = (f"no variable passed {rule}; kept the strongest univariable predictor "
                    f"({best['variable']}, p = {best['p']:.2g})")
        if self.force:
            text += f"; always included: {_names(list(self.force))}"
        if constant:
            text += f"; left out as constant: {_names(constant)}"
        if uni is not None and uni["separated"].any():
            text += (f"; univariable separation in {_names(uni.loc[uni['separated'], 'variable'])}"
                     + (" (Firth p-values)" if self.method != "ml" else
                        " (maximum-likelihood p-values are meaningless there)"))
        return [*self.force, *chosen], text

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ClinicalLogit:
        """Select variables and fit the multivariable model on the training rows."""
        X = pd.DataFrame(X).reset_index(drop=True)
        X.columns = [str(c) for c in X.columns]
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise DataError("the clinical logistic model is for binary outcomes only.")
        if self.method not in METHODS:
            raise DataError(f"clinical method {self.method!r}: use ml, firth or auto")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        positive = (y == self.classes_[1]).astype(int)
        self.selected_, self.selection_rule_ = self._choose(X, positive)
        fit = fit_logit(X[self.selected_], positive, self.method)
        # numbers only: statsmodels' result object holds every training row, and a frozen
        # model must not carry patient data
        self.method_ = fit.method
        self.intercept_ = float(fit.params[0])
        self.coef_ = np.asarray(fit.params[1:], dtype=float)
        self.odds_ratios_ = {k: v.tolist() for k, v in odds_ratio_table(fit).items()}
        self.separation_ = list(fit.separation.variables)
        self.separation_kind_ = fit.separation.kind
        n_candidates = len(self.force) + sum(1 for c in X.columns
                                             if c not in self.force and X[c].std() > 0)
        self.epv_ = events_per_variable(positive, [str(c) for c in self.classes_], n_candidates,
                                        len(self.selected_))
        self.warnings_ = sample_size_warnings(self.epv_)
        if not fit.converged:
            self.warnings_.insert(0, "Firth's Newton-Raphson did not converge in 100 "
                                  "iterations; its estimates are not reliable.")
        if fit.separation.kind is not None:
            alone = separates_alone(X[self.selected_], positive)
            self.warnings_.insert(0, _separation_warning(fit.separation.kind, self.separation_,
                                                         alone, fit.method))
        return self

    @property
    def params_(self) -> pd.Series:
        """Intercept (``const``) and coefficients of the multivariable model."""
        check_is_fitted(self, "coef_")
        return pd.Series([self.intercept_, *self.coef_], index=["const", *self.selected_])

    @property
    def table_(self) -> pd.DataFrame:
        """Odds ratios with Wald CIs and p-values of the multivariable model."""
        check_is_fitted(self, "odds_ratios_")
        return pd.DataFrame(self.odds_ratios_)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Linear predictor (log-odds)."""
        check_is_fitted(self, "coef_")
        X = pd.DataFrame(X, columns=self.feature_names_in_)
        return self.intercept_ + X[self.selected_].astype(float).to_numpy() @ self.coef_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of both classes."""
        p = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -700, 700)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class at probability 0.5."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def rad_score(prob: np.ndarray) -> np.ndarray:
    """The rad-score: log-odds of the radiomics model's positive-class probability."""
    p = np.clip(prob, EPS, 1 - EPS)
    return np.log(p / (1 - p))


class CombinedModel(ClassifierMixin, BaseEstimator):
    """Clinical variables plus the rad-score of a radiomics pipeline in one logistic model.

    The rad-score of the training rows is out-of-fold (inner folds grouped by patient, kept in
    ``splits_``), so the logistic weights do not see a score fitted on the same patients.
    """

    uses_groups = True

    def __init__(self, radiomics: Any = None, clinical_columns: tuple[str, ...] = (),
                 selection: str = "pvalue", p_threshold: float = 0.05, inner_folds: int = 3,
                 seed: int = 0, method: str = "auto") -> None:
        self.radiomics = radiomics
        self.clinical_columns = clinical_columns
        self.selection = selection
        self.p_threshold = p_threshold
        self.inner_folds = inner_folds
        self.seed = seed
        self.method = method

    def _split(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        clinical = list(self.clinical_columns)
        return X[[c for c in X.columns if c not in clinical]], X[clinical]

    def fit(self, X: pd.DataFrame, y: np.ndarray, groups: Any = None) -> CombinedModel:
        """Out-of-fold rad-score on training rows, then the clinical + rad-score logistic.

        ``groups`` (patient ids) keep a patient's lesions on one side of every inner split; without
        them every row is its own group.
        """
        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.asarray(y)
        groups = grouping.row_groups(groups, len(y))
        self.classes_ = np.unique(y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        radiomics, clinical = self._split(X)
        self.splits_ = grouping.grouped_splits(y, groups, self.inner_folds, self.seed)
        if len(grouping.complete_splits(self.splits_, y)) < len(self.splits_):
            raise DataError(
                f"combined model: {len(np.unique(groups))} patients are too few for "
                "patient-grouped inner folds whose training parts hold both classes (the "
                "out-of-fold rad-score); add patients or drop the combined model."
            )
        oof = np.zeros(len(y))
        for train, test in self.splits_:
            model = grouping.fit_pipeline(clone(self.radiomics), radiomics.iloc[train], y[train],
                                          groups[train])
            oof[test] = model.predict_proba(radiomics.iloc[test])[:, 1]
        self.radiomics_ = grouping.fit_pipeline(clone(self.radiomics), radiomics, y, groups)
        design = clinical.assign(rad_score=rad_score(oof))
        self.clinical_ = ClinicalLogit(self.selection, self.p_threshold, ("rad_score",),
                                       self.seed, self.method).fit(design, y)
        return self

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        radiomics, clinical = self._split(pd.DataFrame(X, columns=self.feature_names_in_))
        score = rad_score(self.radiomics_.predict_proba(radiomics)[:, 1])
        return clinical.reset_index(drop=True).assign(rad_score=score)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of both classes."""
        check_is_fitted(self, "clinical_")
        return self.clinical_.predict_proba(self._design(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class at probability 0.5."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def clinical_logit_of(pipeline: Any) -> ClinicalLogit | None:
    """The clinical logistic model inside a fitted clinical or combined pipeline (else None)."""
    model = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    model = getattr(model, "clinical_", model)
    return model if isinstance(model, ClinicalLogit) else None
