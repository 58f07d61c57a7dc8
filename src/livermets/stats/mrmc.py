"""Multi-reader multi-case (MRMC) ROC analysis: Obuchowski-Rockette (jackknife, DeLong or unbiased
covariance) and Dorfman-Berbaum-Metz, for random readers and cases, fixed readers or fixed cases,
with Hillis denominator degrees of freedom."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import as_binary, check_level, require_both_classes, require_columns
from livermets.stats.delong import placements
from livermets.stats.survival import _natural_key

Method = Literal["or", "dbm"]
CovMethod = Literal["jackknife", "delong", "unbiased"]
Analysis = Literal["random", "fixed-readers", "fixed-cases"]
_BAD_ANALYSIS = "analysis must be random, fixed-readers or fixed-cases; got {!r}."


@dataclass(frozen=True)
class MrmcData:
    """Ratings as an array (modality, reader, case) with the truth of every case."""

    modalities: list[str]
    readers: list[str]
    cases: list[str]
    truth: np.ndarray  # bool per case
    ratings: np.ndarray  # float (I, J, K)


def mrmc_data(
    frame: pd.DataFrame,
    *,
    reader: str,
    modality: str,
    case: str,
    truth: str,
    rating: str,
    positive: Any = None,
) -> MrmcData:
    """Validate a long table (one row per reader x modality x case) and reshape it."""
    require_columns(frame, [reader, modality, case, truth, rating])
    df = frame[[reader, modality, case, truth, rating]].copy()
    df.columns = ["reader", "modality", "case", "truth", "rating"]
    for col in ["reader", "modality", "case"]:
        if df[col].isna().any():
            raise DataError(f"Column {col!r} has missing values; every row needs a {col}.")
        df[col] = df[col].map(_key_str)
    ratings = pd.to_numeric(df["rating"], errors="coerce")
    if ratings.isna().any():
        raise DataError(
            f"{int(ratings.isna().sum())} rating(s) are missing or not numeric. "
            "Every reader must rate every case in every modality."
        )
    df["rating"] = ratings
    df["truth"] = as_binary(df["truth"].to_numpy(), "truth", positive)
    per_case = df.groupby("case")["truth"].nunique()
    if (per_case > 1).any():
        bad = per_case[per_case > 1].index.tolist()[:5]
        raise DataError(f"Cases {bad} have different truth values in different rows; "
                        "the truth of a case must be the same for every reader and modality.")
    dup = df.duplicated(["reader", "modality", "case"])
    if dup.any():
        first = df.loc[dup, ["reader", "modality", "case"]].iloc[0].tolist()
        raise DataError(f"{int(dup.sum())} duplicated (reader, modality, case) rows, e.g. {first}; "
                        "keep one rating per reader, modality and case.")
    modalities = sorted(df["modality"].unique(), key=_natural_key)
    readers = sorted(df["reader"].unique(), key=_natural_key)
    cases = sorted(df["case"].unique(), key=_natural_key)
    wide = df.pivot_table(index=["modality", "reader"], columns="case", values="rating",
                          aggfunc="first")
    full = pd.MultiIndex.from_product([modalities, readers], names=["modality", "reader"])
    wide = wide.reindex(index=full, columns=cases)
    if wide.isna().to_numpy().any():
        holes = wide.isna().sum(axis=1)
        holes = holes[holes > 0]
        (mod, rdr), count = holes.index[0], int(holes.iloc[0])
        raise DataError(
            f"Ratings are not on every case: reader {rdr!r} in modality {mod!r} lacks {count} of "
            f"{len(cases)} cases ({len(holes)} reader-modality pair(s) incomplete). A fully "
            "crossed design is needed: rate every case by every reader in every modality."
        )
    case_truth = df.groupby("case")["truth"].first().reindex(cases).to_numpy().astype(bool)
    require_both_classes(case_truth, "truth of the cases")
    array = wide.to_numpy().reshape(len(modalities), len(readers), len(cases))
    return MrmcData(modalities, readers, cases, case_truth, array)


def _key_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _placement_arrays(data: MrmcData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (I, J), V10 (I, J, m) and V01 (I, J, n)."""
    n_mod, n_rdr, _ = data.ratings.shape
    pos = data.ratings[:, :, data.truth]
    neg = data.ratings[:, :, ~data.truth]
    auc = np.empty((n_mod, n_rdr))
    v10 = np.empty(pos.shape)
    v01 = np.empty(neg.shape)
    for i in range(n_mod):
        for j in range(n_rdr):
            p = placements(pos[i, j], neg[i, j])
            auc[i, j], v10[i, j], v01[i, j] = p.auc, p.v10, p.v01
    return auc, v10, v01


def jackknife_aucs(data: MrmcData) -> np.ndarray:
    """Leave-one-case-out AUCs (I, J, K), in closed form from the placements."""
    auc, v10, v01 = _placement_arrays(data)
    m, n = v10.shape[2], v01.shape[2]
    out = np.empty(data.ratings.shape)
    out[:, :, data.truth] = (m * auc[:, :, None] - v10) / (m - 1)
    out[:, :, ~data.truth] = (n * auc[:, :, None] - v01) / (n - 1)
    return out


def auc_covariance(data: MrmcData, cov: CovMethod = "jackknife") -> tuple[np.ndarray, np.ndarray]:
    """Reader-modality AUCs (I, J) and their covariance matrix (I*J, I*J), modality-major."""
    auc, v10, v01 = _placement_arrays(data)
    n_mod, n_rdr = auc.shape
    m, n = v10.shape[2], v01.shape[2]
    if m < 2 or n < 2:
        raise DataError("MRMC analysis needs at least 2 positive and 2 negative cases.")
    if cov == "jackknife":
        jk = jackknife_aucs(data).reshape(n_mod * n_rdr, -1)
        k = jk.shape[1]
        centred = jk - jk.mean(axis=1, keepdims=True)
        return auc, (k - 1) / k * centred @ centred.T
    if cov == "delong":
        a = v10.reshape(n_mod * n_rdr, m)
        b = v01.reshape(n_mod * n_rdr, n)
        return auc, np.atleast_2d(np.cov(a)) / m + np.atleast_2d(np.cov(b)) / n
    if cov == "unbiased":
        return auc, _unbiased_cov(data, v10, v01)
    raise ConfigError(f"cov must be 'jackknife', 'delong' or 'unbiased', got {cov!r}.")


def _unbiased_cov(data: MrmcData, v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """Gallas (2006) unbiased covariance of U-statistic AUCs for a fully crossed design."""
    pos = data.ratings[:, :, data.truth].reshape(-1, v10.shape[2])
    neg = data.ratings[:, :, ~data.truth].reshape(-1, v01.shape[2])
    m, n = pos.shape[1], neg.shape[1]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    psi = psi.reshape(psi.shape[0], -1)
    row = v10.reshape(-1, m) * n  # sum over negatives for each positive
    col = v01.reshape(-1, n) * m  # sum over positives for each negative
    total = row.sum(axis=1)
    delta = (m * n) ** 2 / (m * (m - 1) * n * (n - 1))
    inner = row @ row.T + col @ col.T - psi @ psi.T
    return ((1 - delta) * np.outer(total, total) + delta * inner) / (m * n) ** 2


@dataclass(frozen=True)
class Comparison:
    """Difference of reader-averaged AUCs between two modalities."""

    modality_a: str
    modality_b: str
    diff: float
    se: float
    df: float
    ci: tuple[float, float]
    statistic: float
    p: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"modality_a": self.modality_a, "modality_b": self.modality_b, "diff": self.diff,
                "se": self.se, "df": self.df, "ci": list(self.ci), "t": self.statistic,
                "p": self.p}


@dataclass(frozen=True)
class MrmcResult:
    """MRMC analysis: AUCs, global test, pairwise differences and variance components."""

    method: str
    cov: str
    analysis: str
    reader_auc: pd.DataFrame  # modalities x readers
    modality_ci: dict[str, dict[str, float]]
    f: float
    df1: int
    df2: float
    p: float
    comparisons: list[Comparison]
    components: dict[str, float] = field(default_factory=dict)

    @property
    def diff(self) -> float:
        """Difference of the first two modalities (first minus second)."""
        return self.comparisons[0].diff

    @property
    def ci(self) -> tuple[float, float]:
        """CI of the difference of the first two modalities."""
        return self.comparisons[0].ci

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys of the ``livermets stats mrmc`` contract)."""
        modalities = {
            str(mod): {"auc": float(self.reader_auc.loc[mod].mean()),
                       "reader_auc": {str(r): float(v)
                                      for r, v in self.reader_auc.loc[mod].items()},
                       **self.modality_ci.get(str(mod), {})}
            for mod in self.reader_auc.index
        }
        return {"modalities": modalities, "diff": self.diff, "ci": list(self.ci), "f": self.f,
                "df1": self.df1, "df2": self.df2, "p": self.p, "method": self.method,
                "cov": self.cov, "analysis": self.analysis,
                "comparisons": [c.to_dict() for c in self.comparisons],
                "variance_components": self.components}


def _or_components(auc: np.ndarray, cov: np.ndarray) -> dict[str, float]:
    n_mod, n_rdr = auc.shape
    idx = np.arange(n_mod * n_rdr)
    mod, rdr = idx // n_rdr, idx % n_rdr
    same_m = mod[:, None] == mod[None, :]
    same_r = rdr[:, None] == rdr[None, :]
    off = ~np.eye(idx.size, dtype=bool)

    def mean_or_nan(mask: np.ndarray) -> float:
        return float(cov[mask].mean()) if mask.any() else float("nan")

    grand = auc.mean()
    mod_means, rdr_means = auc.mean(axis=1), auc.mean(axis=0)
    inter = auc - mod_means[:, None] - rdr_means[None, :] + grand
    return {
        "var": float(np.diag(cov).mean()),
        "cov1": mean_or_nan(~same_m & same_r),
        "cov2": mean_or_nan(same_m & ~same_r & off),
        "cov3": mean_or_nan(~same_m & ~same_r),
        "ms_t": float(n_rdr * np.sum((mod_means - grand) ** 2) / (n_mod - 1)),
        "ms_r": float(n_mod * np.sum((rdr_means - grand) ** 2) / (n_rdr - 1))
        if n_rdr > 1 else float("nan"),
        "ms_tr": float(np.sum(inter**2) / ((n_mod - 1) * (n_rdr - 1)))
        if n_rdr > 1 else float("nan"),
    }


def _pairs(names: list[str], means: np.ndarray, se: float, df: float, level: float,
           dist: str) -> list[Comparison]:
    out = []
    q = (sps.norm.ppf(0.5 + level / 2) if dist == "z" else sps.t.ppf(0.5 + level / 2, df))
    for a, b in combinations(range(len(names)), 2):
        diff = float(means[a] - means[b])
        stat = diff / se if se > 0 else 0.0
        p = float(2 * (sps.norm.sf(abs(stat)) if dist == "z" else sps.t.sf(abs(stat), df)))
        out.append(Comparison(names[a], names[b], diff, float(se), float(df),
                              (diff - q * se, diff + q * se), float(stat), p))
    return out


def _or_analysis(data: MrmcData, cov_method: CovMethod, analysis: Analysis,
                 level: float) -> MrmcResult:
    auc, cov = auc_covariance(data, cov_method)
    n_mod, n_rdr = auc.shape
    comp = _or_components(auc, cov)
    means = auc.mean(axis=1)
    cov_diag = cov.reshape(n_mod, n_rdr, n_mod, n_rdr)
    mod_ci: dict[str, dict[str, float]] = {}
    if analysis == "random":
        den = comp["ms_tr"] + n_rdr * max(comp["cov2"] - comp["cov3"], 0.0)
        f = comp["ms_t"] / den
        df2 = den**2 / (comp["ms_tr"] ** 2 / ((n_mod - 1) * (n_rdr - 1)))
        p = float(sps.f.sf(f, n_mod - 1, df2))
        comparisons = _pairs(data.modalities, means, np.sqrt(2 * den / n_rdr), df2, level, "t")
        for i, name in enumerate(data.modalities):
            ms_r = float(np.var(auc[i], ddof=1))
            block = cov_diag[i, :, i, :]
            cov2 = float(block[~np.eye(n_rdr, dtype=bool)].mean())
            se = np.sqrt(ms_r / n_rdr + max(cov2, 0.0))
            df_i = (ms_r + n_rdr * max(cov2, 0.0)) ** 2 / (ms_r**2 / (n_rdr - 1))
            q = sps.t.ppf(0.5 + level / 2, df_i)
            mod_ci[name] = {"se": float(se), "df": float(df_i),
                            "ci": [float(means[i] - q * se), float(means[i] + q * se)]}
    elif analysis == "fixed-readers":
        cov2_minus_3 = max(comp["cov2"] - comp["cov3"], 0.0) if n_rdr > 1 else 0.0
        den = comp["var"] - comp["cov1"] + (n_rdr - 1) * cov2_minus_3
        chi2 = (n_mod - 1) * comp["ms_t"] / den
        f, df2 = chi2 / (n_mod - 1), float("inf")
        p = float(sps.chi2.sf(chi2, n_mod - 1))
        comp["chi2"] = float(chi2)
        comparisons = _pairs(data.modalities, means, np.sqrt(2 * den / n_rdr), df2, level, "z")
        z = sps.norm.ppf(0.5 + level / 2)
        for i, name in enumerate(data.modalities):
            block = cov_diag[i, :, i, :]
            var_i = float(np.diag(block).mean())
            cov2 = float(block[~np.eye(n_rdr, dtype=bool)].mean()) if n_rdr > 1 else 0.0
            se = np.sqrt((var_i + (n_rdr - 1) * max(cov2, 0.0)) / n_rdr)
            mod_ci[name] = {"se": float(se), "ci": [float(means[i] - z * se),
                                                    float(means[i] + z * se)]}
    elif analysis == "fixed-cases":
        f = comp["ms_t"] / comp["ms_tr"]
        df2 = float((n_mod - 1) * (n_rdr - 1))
        p = float(sps.f.sf(f, n_mod - 1, df2))
        comparisons = _pairs(data.modalities, means, np.sqrt(2 * comp["ms_tr"] / n_rdr), df2,
                             level, "t")
        for i, name in enumerate(data.modalities):
            se = np.sqrt(np.var(auc[i], ddof=1) / n_rdr)
            q = sps.t.ppf(0.5 + level / 2, n_rdr - 1)
            mod_ci[name] = {"se": float(se), "df": float(n_rdr - 1),
                            "ci": [float(means[i] - q * se), float(means[i] + q * se)]}
    else:
        raise ConfigError(_BAD_ANALYSIS.format(analysis))
    frame = pd.DataFrame(auc, index=data.modalities, columns=data.readers)
    return MrmcResult("or", cov_method, analysis, frame, mod_ci, float(f), n_mod - 1,
                      float(df2), p, comparisons, comp)


def pseudovalues(data: MrmcData) -> np.ndarray:
    """Centred jackknife pseudovalues (I, J, K) of the AUC (mean over cases = the AUC)."""
    auc, _, _ = _placement_arrays(data)
    k = data.ratings.shape[2]
    pv = k * auc[:, :, None] - (k - 1) * jackknife_aucs(data)
    return pv - pv.mean(axis=2, keepdims=True) + auc[:, :, None]


def _dbm_analysis(data: MrmcData, analysis: Analysis, level: float) -> MrmcResult:
    y = pseudovalues(data)
    n_mod, n_rdr, n_case = y.shape
    g = y.mean()
    m_t, m_r, m_c = y.mean(axis=(1, 2)), y.mean(axis=(0, 2)), y.mean(axis=(0, 1))
    m_tr, m_tc, m_rc = y.mean(axis=2), y.mean(axis=1), y.mean(axis=0)
    ms_t = n_rdr * n_case * np.sum((m_t - g) ** 2) / (n_mod - 1)
    tr = m_tr - m_t[:, None] - m_r[None, :] + g
    tc = m_tc - m_t[:, None] - m_c[None, :] + g
    trc = (y - m_tr[:, :, None] - m_tc[:, None, :] - m_rc[None, :, :] + m_t[:, None, None]
           + m_r[None, :, None] + m_c[None, None, :] - g)
    ms_tr = n_case * np.sum(tr**2) / ((n_mod - 1) * (n_rdr - 1)) if n_rdr > 1 else float("nan")
    ms_tc = n_rdr * np.sum(tc**2) / ((n_mod - 1) * (n_case - 1))
    ms_trc = (np.sum(trc**2) / ((n_mod - 1) * (n_rdr - 1) * (n_case - 1))
              if n_rdr > 1 else float("nan"))
    if analysis == "random":
        den = ms_tr + max(ms_tc - ms_trc, 0.0)
        df2 = den**2 / (ms_tr**2 / ((n_mod - 1) * (n_rdr - 1)))
    elif analysis == "fixed-readers":
        den, df2 = ms_tc, float((n_mod - 1) * (n_case - 1))
    elif analysis == "fixed-cases":
        den, df2 = ms_tr, float((n_mod - 1) * (n_rdr - 1))
    else:
        raise ConfigError(_BAD_ANALYSIS.format(analysis))
    f = ms_t / den
    p = float(sps.f.sf(f, n_mod - 1, df2))
    auc, _, _ = _placement_arrays(data)
    comparisons = _pairs(data.modalities, auc.mean(axis=1), np.sqrt(2 * den / (n_rdr * n_case)),
                         df2, level, "t")
    comp = {"ms_t": float(ms_t), "ms_tr": float(ms_tr), "ms_tc": float(ms_tc),
            "ms_trc": float(ms_trc)}
    frame = pd.DataFrame(auc, index=data.modalities, columns=data.readers)
    return MrmcResult("dbm", "jackknife", analysis, frame, {}, float(f), n_mod - 1, float(df2),
                      p, comparisons, comp)


def mrmc(
    data: MrmcData,
    *,
    method: Method = "or",
    cov: CovMethod = "jackknife",
    analysis: Analysis = "random",
    level: float = 0.95,
) -> MrmcResult:
    """MRMC comparison of modalities: OR (any covariance) or DBM (jackknife pseudovalues)."""
    level = check_level(level)
    n_mod, n_rdr, _ = data.ratings.shape
    if n_mod < 2:
        raise DataError(f"MRMC compares modalities; found only {data.modalities}.")
    if n_rdr < 2 and analysis != "fixed-readers":
        raise DataError("Random-reader analyses need at least 2 readers; use fixed-readers.")
    if method == "or":
        return _or_analysis(data, cov, analysis, level)
    if method == "dbm":
        if cov != "jackknife":
            raise ConfigError("DBM uses jackknife pseudovalues; use --cov jackknife with dbm.")
        return _dbm_analysis(data, analysis, level)
    raise ConfigError(f"method must be 'or' or 'dbm', got {method!r}.")
