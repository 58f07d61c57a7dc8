"""Clinical models (statsmodels logistic regression), the rad-score and combined models."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from livermets.errors import DataError
from livermets.models import grouping

EPS = 1e-6


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


def odds_ratio_table(result: Any, level: float = 0.95) -> pd.DataFrame:
    """Odds ratios with Wald CIs and p-values of a fitted statsmodels Logit (no intercept)."""
    params = result.params.drop("const")
    ci = result.conf_int(1 - level).drop("const")
    return pd.DataFrame({
        "variable": params.index,
        "coef": params.to_numpy(),
        "odds_ratio": np.exp(params.to_numpy()),
        "ci_low": np.exp(ci.iloc[:, 0].to_numpy()),
        "ci_high": np.exp(ci.iloc[:, 1].to_numpy()),
        "p": result.pvalues.drop("const").to_numpy(),
    })


def univariable_table(X: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """One logistic regression per variable: OR, 95% CI and p-value."""
    rows = [odds_ratio_table(_logit_fit(X[[c]], y)) for c in X.columns]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


class ClinicalLogit(ClassifierMixin, BaseEstimator):
    """Univariable screening (p < threshold, or LASSO, or none) then multivariable logistic."""

    def __init__(self, selection: str = "pvalue", p_threshold: float = 0.05,
                 force: tuple[str, ...] = (), seed: int = 0) -> None:
        self.selection = selection
        self.p_threshold = p_threshold
        self.force = force
        self.seed = seed

    def _choose(self, X: pd.DataFrame, y: np.ndarray) -> list[str]:
        candidates = [c for c in X.columns if c not in self.force and X[c].std() > 0]
        if self.selection == "pvalue":
            uni = univariable_table(X[candidates], y)
            chosen = uni.loc[uni["p"] < self.p_threshold, "variable"].tolist()
        elif self.selection == "lasso":
            from livermets.models.transformers import L1Selector

            z = (X[candidates] - X[candidates].mean()) / X[candidates].std()
            mask = L1Selector(C=0.5, seed=self.seed).fit(z.to_numpy(), y).get_support()
            chosen = [c for c, keep in zip(candidates, mask, strict=True) if keep]
        elif self.selection == "none":
            chosen = candidates
        else:
            raise DataError(f"clinical selection {self.selection!r}: use pvalue, lasso or none")
        chosen = [*self.force, *chosen]
        if not chosen:  # nothing significant: keep the strongest univariable predictor
            uni = univariable_table(X[candidates], y)
            chosen = [str(uni.sort_values("p")["variable"].iloc[0])]
        return chosen

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ClinicalLogit:
        """Select variables and fit the multivariable model on the training rows."""
        X = pd.DataFrame(X).reset_index(drop=True)
        X.columns = [str(c) for c in X.columns]
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise DataError("the clinical logistic model is for binary outcomes only.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.selected_ = self._choose(X, (y == self.classes_[1]).astype(int))
        result = _logit_fit(X[self.selected_], (y == self.classes_[1]).astype(int))
        # numbers only: statsmodels' result object holds every training row, and a frozen
        # model must not carry patient data
        self.intercept_ = float(result.params["const"])
        self.coef_ = result.params[self.selected_].to_numpy(dtype=float)
        self.odds_ratios_ = {k: v.tolist() for k, v in odds_ratio_table(result).items()}
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
                 seed: int = 0) -> None:
        self.radiomics = radiomics
        self.clinical_columns = clinical_columns
        self.selection = selection
        self.p_threshold = p_threshold
        self.inner_folds = inner_folds
        self.seed = seed

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
                                       self.seed).fit(design, y)
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
