"""IBSI-1 checks: engine features mapped to IBSI tags, reference tables, per-family pass counts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from livermets.errors import InputFileError
from livermets.radiomics.engines.base import IbsiEntry

# pyradiomics feature -> IBSI-1 tag stems (the tag without its 2D/2.5D/3D suffix).
_FIRSTORDER = {
    "Mean": "stat_mean", "Variance": "stat_var", "Skewness": "stat_skew", "Kurtosis": "stat_kurt",
    "Median": "stat_median", "Minimum": "stat_min", "10Percentile": "stat_p10",
    "90Percentile": "stat_p90", "Maximum": "stat_max", "InterquartileRange": "stat_iqr",
    "Range": "stat_range", "MeanAbsoluteDeviation": "stat_mad",
    "RobustMeanAbsoluteDeviation": "stat_rmad", "Energy": "stat_energy",
    "RootMeanSquared": "stat_rms", "Entropy": "ih_entropy", "Uniformity": "ih_uniformity",
}  # fmt: skip
_SHAPE = {
    "MeshVolume": "morph_volume", "VoxelVolume": "morph_vol_approx",
    "SurfaceArea": "morph_area_mesh", "SurfaceVolumeRatio": "morph_av",
    "Sphericity": "morph_sphericity", "Maximum3DDiameter": "morph_diam",
    "MajorAxisLength": "morph_pca_maj_axis", "MinorAxisLength": "morph_pca_min_axis",
    "LeastAxisLength": "morph_pca_least_axis", "Elongation": "morph_pca_elongation",
    "Flatness": "morph_pca_flatness",
}  # fmt: skip
_GLCM = {
    "Autocorrelation": "cm_auto_corr", "JointAverage": "cm_joint_avg",
    "ClusterProminence": "cm_clust_prom", "ClusterShade": "cm_clust_shade",
    "ClusterTendency": ("cm_clust_tend", "cm_sum_var"), "Contrast": "cm_contrast",
    "Correlation": "cm_corr", "DifferenceAverage": ("cm_diff_avg", "cm_dissimilarity"),
    "DifferenceEntropy": "cm_diff_entr", "DifferenceVariance": "cm_diff_var",
    "JointEnergy": "cm_energy", "JointEntropy": "cm_joint_entr", "Imc1": "cm_info_corr1",
    "Imc2": "cm_info_corr2", "Idm": "cm_inv_diff_mom", "Idmn": "cm_inv_diff_mom_norm",
    "Id": "cm_inv_diff", "Idn": "cm_inv_diff_norm", "InverseVariance": "cm_inv_var",
    "MaximumProbability": "cm_joint_max", "SumAverage": "cm_sum_avg",
    "SumEntropy": "cm_sum_entr", "SumSquares": "cm_joint_var",
}  # fmt: skip
_GLRLM = {
    "ShortRunEmphasis": "rlm_sre", "LongRunEmphasis": "rlm_lre",
    "GrayLevelNonUniformity": "rlm_glnu", "GrayLevelNonUniformityNormalized": "rlm_glnu_norm",
    "RunLengthNonUniformity": "rlm_rlnu", "RunLengthNonUniformityNormalized": "rlm_rlnu_norm",
    "RunPercentage": "rlm_r_perc", "GrayLevelVariance": "rlm_gl_var",
    "RunVariance": "rlm_rl_var", "RunEntropy": "rlm_rl_entr",
    "LowGrayLevelRunEmphasis": "rlm_lgre", "HighGrayLevelRunEmphasis": "rlm_hgre",
    "ShortRunLowGrayLevelEmphasis": "rlm_srlge", "ShortRunHighGrayLevelEmphasis": "rlm_srhge",
    "LongRunLowGrayLevelEmphasis": "rlm_lrlge", "LongRunHighGrayLevelEmphasis": "rlm_lrhge",
}  # fmt: skip
_GLSZM = {
    "SmallAreaEmphasis": "szm_sze", "LargeAreaEmphasis": "szm_lze",
    "GrayLevelNonUniformity": "szm_glnu", "GrayLevelNonUniformityNormalized": "szm_glnu_norm",
    "SizeZoneNonUniformity": "szm_zsnu", "SizeZoneNonUniformityNormalized": "szm_zsnu_norm",
    "ZonePercentage": "szm_z_perc", "GrayLevelVariance": "szm_gl_var",
    "ZoneVariance": "szm_zs_var", "ZoneEntropy": "szm_zs_entr",
    "LowGrayLevelZoneEmphasis": "szm_lgze", "HighGrayLevelZoneEmphasis": "szm_hgze",
    "SmallAreaLowGrayLevelEmphasis": "szm_szlge", "SmallAreaHighGrayLevelEmphasis": "szm_szhge",
    "LargeAreaLowGrayLevelEmphasis": "szm_lzlge", "LargeAreaHighGrayLevelEmphasis": "szm_lzhge",
}  # fmt: skip
_GLDM = {
    "SmallDependenceEmphasis": "ngl_lde", "LargeDependenceEmphasis": "ngl_hde",
    "GrayLevelNonUniformity": "ngl_glnu", "DependenceNonUniformity": "ngl_dcnu",
    "DependenceNonUniformityNormalized": "ngl_dcnu_norm", "GrayLevelVariance": "ngl_gl_var",
    "DependenceVariance": "ngl_dc_var", "DependenceEntropy": "ngl_dc_entr",
    "LowGrayLevelEmphasis": "ngl_lgce", "HighGrayLevelEmphasis": "ngl_hgce",
    "SmallDependenceLowGrayLevelEmphasis": "ngl_ldlge",
    "SmallDependenceHighGrayLevelEmphasis": "ngl_ldhge",
    "LargeDependenceLowGrayLevelEmphasis": "ngl_hdlge",
    "LargeDependenceHighGrayLevelEmphasis": "ngl_hdhge",
}  # fmt: skip
_NGTDM = {
    "Coarseness": "ngt_coarseness", "Contrast": "ngt_contrast", "Busyness": "ngt_busyness",
    "Complexity": "ngt_complexity", "Strength": "ngt_strength",
}  # fmt: skip

# Features that have an IBSI tag but whose pyradiomics definition differs by design.
_AXIS_NOTE = (
    "pyradiomics takes PCA eigenvalues of the sample covariance (N-1), IBSI of the population "
    "covariance (N): axis lengths are sqrt((N-1)/N) of IBSI's, visible for small regions."
)
_NOT_COMPLIANT: dict[str, str] = {
    "shape_MajorAxisLength": _AXIS_NOTE,
    "shape_MinorAxisLength": _AXIS_NOTE,
    "shape_LeastAxisLength": _AXIS_NOTE,
}
# Features that match IBSI after a documented constant conversion.
_OFFSETS = {"firstorder_Kurtosis": -3.0}
_NOTES = {
    "firstorder_Kurtosis": "pyradiomics reports kurtosis; IBSI reports excess kurtosis (-3).",
    "firstorder_Energy": "IBSI energy needs voxel_array_shift: 0 (pyradiomics adds the shift).",
    "firstorder_RootMeanSquared": "IBSI RMS needs voxel_array_shift: 0.",
    "glcm_ClusterTendency": "equal to IBSI sum variance, which pyradiomics does not repeat.",
    "glcm_DifferenceAverage": "equal to IBSI dissimilarity, which pyradiomics does not repeat.",
}


def _build() -> dict[str, IbsiEntry]:
    """The pyradiomics -> IBSI table."""
    out: dict[str, IbsiEntry] = {}
    for cls, table in (
        ("firstorder", _FIRSTORDER), ("shape", _SHAPE), ("glcm", _GLCM), ("glrlm", _GLRLM),
        ("glszm", _GLSZM), ("gldm", _GLDM), ("ngtdm", _NGTDM),
    ):  # fmt: skip
        for feature, tags in table.items():
            key = f"{cls}_{feature}"
            out[key] = IbsiEntry(
                feature=key,
                tags=(tags,) if isinstance(tags, str) else tuple(tags),
                compliant=key not in _NOT_COMPLIANT,
                offset=_OFFSETS.get(key, 0.0),
                note=_NOT_COMPLIANT.get(key, _NOTES.get(key, "")),
            )
    return out


PYRADIOMICS_IBSI = _build()

# IBSI tag suffix of each matrix family: pyradiomics averages GLCM/GLRLM features over
# directions (IBSI "averaged"; 2D texture merges slices per direction: "2.5D direction-merged").
_SUFFIX = {
    ("3d", "average"): {
        "cm": "_3D_avg", "rlm": "_3D_avg", "szm": "_3D", "ngt": "_3D", "ngl": "_3D",
    },
    ("3d", "merge"): {
        "cm": "_3D_comb", "rlm": "_3D_comb", "szm": "_3D", "ngt": "_3D", "ngl": "_3D",
    },
    ("2d", "average"): {
        "cm": "_2_5D_avg", "rlm": "_2_5D_avg", "szm": "_2_5D", "ngt": "_2_5D", "ngl": "_2_5D",
    },
    ("2d", "merge"): {
        "cm": "_2_5D_comb", "rlm": "_2_5D_comb", "szm": "_2_5D", "ngt": "_2_5D", "ngl": "_2_5D",
    },
}  # fmt: skip


def ibsi_tag(stem: str, texture: str, aggregation: str = "average") -> str:
    """Full IBSI tag of a stem for a texture mode (``3d``/``2d``) and direction aggregation."""
    family = stem.split("_", 1)[0]
    return stem + _SUFFIX[(texture, aggregation)].get(family, "")


def read_reference(path: str | Path) -> pd.DataFrame:
    """An IBSI-1 reference table (dataset, family, feature, reference value, tolerance, tag)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"IBSI reference table {path} does not exist.")
    table = pd.read_csv(path, encoding="utf-8-sig")
    table = table.rename(columns={"reference value": "reference"})
    table = table[~table["family"].str.startswith("Diagnostics")]
    return table.dropna(subset=["reference"]).reset_index(drop=True)


def _rounding_tolerance(reference: float) -> float:
    """Half a unit of the third significant digit (IBSI values are given to 3 digits)."""
    if reference == 0:
        return 5e-4
    exponent = math.floor(math.log10(abs(reference)))
    return 0.5 * 10.0 ** (exponent - 2)


@dataclass(frozen=True)
class IbsiComparison:
    """Feature-by-feature comparison with an IBSI reference table, and per-family counts."""

    rows: pd.DataFrame

    def family_counts(self) -> pd.DataFrame:
        """Per IBSI family: reference features, those the engine computes, those that pass."""
        grouped = self.rows.groupby("family", sort=False)
        return pd.DataFrame(
            {
                "n_reference": grouped.size(),
                "n_computed": grouped["computed"].sum(),
                "n_pass": grouped["passed"].sum(),
                "n_compliant": grouped["compliant"].sum(),
                "n_compliant_pass": grouped.apply(
                    lambda g: int((g["compliant"] & g["passed"]).sum()), include_groups=False
                ),
            }
        ).astype(int)

    def compliant_failures(self) -> pd.DataFrame:
        """Features labelled IBSI-compliant that fall outside the tolerance."""
        return self.rows[self.rows["compliant"] & ~self.rows["passed"]]


def compare_ibsi(
    features: dict[str, float],
    reference: pd.DataFrame,
    ibsi_map: dict[str, IbsiEntry],
    *,
    texture: str = "3d",
    aggregation: str = "average",
    image_type: str = "original",
) -> IbsiComparison:
    """Compare engine features (``<image type>_<class>_<feature>``) with an IBSI reference table."""
    by_tag: dict[str, tuple[IbsiEntry, float]] = {}
    for key, entry in ibsi_map.items():
        value = features.get(f"{image_type}_{key}")
        if value is None:
            continue
        for stem in entry.tags:
            by_tag[ibsi_tag(stem, texture, aggregation)] = (entry, value + entry.offset)
    rows = []
    for ref in reference.itertuples(index=False):
        entry, value = by_tag.get(ref.tag, (None, math.nan))
        tolerance = max(float(ref.tolerance), _rounding_tolerance(float(ref.reference)))
        computed = entry is not None and math.isfinite(value)
        rows.append(
            {
                "family": ref.family,
                "feature": ref.feature,
                "tag": ref.tag,
                "engine_feature": entry.feature if entry else None,
                "value": value,
                "reference": float(ref.reference),
                "tolerance": tolerance,
                "computed": computed,
                "passed": computed and abs(value - float(ref.reference)) <= tolerance,
                "compliant": bool(entry and entry.compliant),
            }
        )
    return IbsiComparison(pd.DataFrame(rows))
