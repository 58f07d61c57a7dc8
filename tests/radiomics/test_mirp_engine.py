"""The MIRP engine: IBSI-1 phantoms, cross-check with pyradiomics, install hint, pipeline.

Reference values: ``../shared/data/ibsi/reference_values`` (IBSI-1, with tolerances). The
cross-check compares MIRP with pyradiomics-bhklab 3.1.4 on the same voxels.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.errors import ConfigError
from livermets.radiomics import get_engine, params_from_dict
from livermets.radiomics.engines import base
from livermets.radiomics.engines.mirp_engine import (
    INSTALL_HINT,
    mirp_settings,
    mirp_stem,
)
from tests.radiomics.conftest import write_cohort
from tests.radiomics.ibsi_cases import CT, DIGITAL, family_counts, run_ibsi


def _families(texture: str, cm: str) -> dict[str, tuple[int, int]]:
    """Pass / computed per family: MIRP passes every IBSI-1 feature it computes (morphology:
    all but Moran's I and Geary's C, which the engine leaves out; OMBB and MVEE have no
    reference value)."""
    return {
        "Morphology": (23, 23), "Statistics": (18, 18), "Intensity histogram": (23, 23),
        f"Co-occurrence matrix ({cm})": (25, 25), f"Run length matrix ({cm})": (16, 16),
        f"Size zone matrix ({texture})": (16, 16),
        f"Neighbourhood grey tone difference matrix ({texture})": (5, 5),
        f"Neighbouring grey level dependence matrix ({texture})": (17, 17),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("update", "expected"),
    [({}, _families("3D", "3D, averaged")),
     ({"texture": "2d"}, _families("2.5D", "2.5D, direction-merged")),
     ({"texture_aggregation": "merge"}, _families("3D", "3D, merged"))],
    ids=["3d-averaged", "2.5d-direction-merged", "3d-merged"],
)  # fmt: skip
def test_digital_phantom(update, expected):
    comparison = run_ibsi(
        "mirp", DIGITAL, "ibsi-digital-phantom", "ibsi_1_reference_values_digital_phantom.csv",
        **update)
    assert family_counts(comparison) == expected
    assert comparison.compliant_failures().empty
    rows = comparison.rows.set_index("tag")
    # IBSI's PCA axes (population covariance), unlike pyradiomics' 9.2449 / 8.4781
    assert rows.loc["morph_pca_min_axis", "value"] == pytest.approx(9.31, abs=5e-3)
    assert rows.loc["morph_pca_least_axis", "value"] == pytest.approx(8.54, abs=5e-3)


def test_ct_phantom_config_a():
    comparison = run_ibsi("mirp", CT, "ibsi-config-a",
                          "ibsi_1_reference_values_config_A.csv")
    assert family_counts(comparison) == _families("2.5D", "2.5D, direction-merged")
    assert comparison.compliant_failures().empty


def test_ct_phantom_config_c():
    """Config C: IBSI pre-processing in livermets (grid, mask, rounding), then MIRP's
    ``fixed_bin_size`` from -1000 HU."""
    comparison = run_ibsi("mirp", CT, "ibsi-config-c",
                          "ibsi_1_reference_values_config_C.csv")
    assert family_counts(comparison) == _families("3D", "3D, averaged")
    assert comparison.compliant_failures().empty


# pyradiomics features without a MIRP equivalent (see mirp_engine._NOT_IN_IBSI)
NOT_IN_MIRP = {
    "original_shape_Maximum2DDiameterSlice", "original_shape_Maximum2DDiameterColumn",
    "original_shape_Maximum2DDiameterRow", "original_glcm_MCC",
}  # fmt: skip
AXES = ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength")


@pytest.fixture(scope="module")
def lesion(tmp_path_factory) -> tuple[sitk.Image, sitk.Image]:
    """Lesion 1 of a synthetic patient: a 6 mm ball (581 voxels of 0.8 x 0.8 x 2.5 mm)."""
    root = tmp_path_factory.mktemp("lesion")
    write_cohort(root, 1)
    image = sitk.ReadImage(str(root / "p1" / "ct.nii.gz"))
    mask = sitk.Cast(sitk.ReadImage(str(root / "p1" / "lesions.nii.gz")) == 1, sitk.sitkUInt8)
    return image, mask


@pytest.mark.parametrize(
    ("extraction", "voxel_mm3"),
    [({}, 1.6),
     ({"texture": "2d", "texture_aggregation": "merge"}, 1.6),
     ({"discretisation": {"bin_count": 16}, "resegmentation": {"range": [-2, 2], "mode": "sigma"},
       "resampling": {"spacing": [1, 1, 1], "interpolator": "bspline"},
       "voxel_array_shift": 1000, "gldm_alpha": 1}, 1.0),
     ({"preprocessing": "ibsi", "resegmentation": {"range": [-100, 300]},
       "resampling": {"spacing": [1, 1, 1], "interpolator": "linear", "round_intensities": True}},
      1.0)],
    ids=["3d-averaged-fbs25", "2d-merged", "fbn16-sigma-bspline-shift", "ibsi-linear-reseg"],
)  # fmt: skip
def test_mirp_agrees_with_pyradiomics(lesion, extraction, voxel_mm3):
    """Every pyradiomics feature with a MIRP equivalent agrees to 1e-6 relative (GLRLM with
    MIRP's 3d_average); the PCA axis lengths differ by exactly sqrt((N - 1) / N)."""
    params = params_from_dict({"extraction": extraction}).extraction
    image, mask = lesion
    expected = get_engine("pyradiomics").extract(image, mask, params)
    got = get_engine("mirp").extract(image, mask, params)
    assert len(expected) == 107
    assert set(expected) - set(got) == NOT_IN_MIRP
    n_voxels = round(expected["original_shape_VoxelVolume"] / voxel_mm3)
    sample_to_population = math.sqrt((n_voxels - 1) / n_voxels)
    checked = 0
    for name, value in expected.items():
        if name in NOT_IN_MIRP:
            continue
        if name.endswith(AXES):
            assert value == pytest.approx(got[name] * sample_to_population, rel=1e-9), name
        else:
            assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name
        checked += 1
    assert checked == 103
    mirp_only = [k for k in got if k.startswith("original_mirp_")]
    assert {"original_mirp_stat_medad", "original_mirp_morph_comp_1",
            "original_mirp_ngl_dc_perc", "original_mirp_cm_mcc"} <= set(mirp_only)  # fmt: skip
    assert len(got) == 103 + len(mirp_only)


def test_mirp_names_and_settings():
    cases = [
        ("cm_contrast_d1_3d_avg_fbs_w25.0", "cm_contrast"),
        ("cm_info_corr1_d1_2.5d_d_mrg_fbsp_w25.0", "cm_info_corr1"),
        ("rlm_sre_3d_v_mrg_fbn_n16", "rlm_sre"),
        ("ngl_dc_perc_d1_a0.0_2.5d_fbsp_w1.0", "ngl_dc_perc"),
        ("szm_z_perc_3d", "szm_z_perc"),
        ("ih_entropy_fbs_w25.0", "ih_entropy"),
        ("stat_p10", "stat_p10"),
        ("morph_vol_dens_aabb", "morph_vol_dens_aabb"),
    ]
    assert [mirp_stem(name) for name, _ in cases] == [stem for _, stem in cases]
    values = np.array([-40.0, 10.0, 60.0, 500.0])

    def settings(**extraction):
        return mirp_settings(params_from_dict({"extraction": extraction}).extraction, values)

    default = settings()
    assert default["base_discretisation_method"] == "fixed_bin_size_pyradiomics"
    assert default["glcm_spatial_method"] == default["glrlm_spatial_method"] == "3d_average"
    assert "resegmentation_intensity_range" not in default
    merged_2d = settings(texture="2d", texture_aggregation="merge")
    assert merged_2d["by_slice"] and merged_2d["glcm_spatial_method"] == "2.5d_volume_merge"
    assert merged_2d["glszm_spatial_method"] == "2.5d"
    # IBSI bins start at the absolute re-segmentation bound, else at the region's minimum
    ibsi = settings(preprocessing="ibsi", resegmentation={"range": [-100, 300]})
    assert ibsi["base_discretisation_method"] == "fixed_bin_size"
    assert ibsi["resegmentation_intensity_range"] == [-100.0, 300.0]
    ibsi_open = settings(preprocessing="ibsi", resegmentation={"range": [0, None]})
    assert ibsi_open["resegmentation_intensity_range"][0] == 0.0
    assert math.isnan(ibsi_open["resegmentation_intensity_range"][1])
    ibsi_min = settings(preprocessing="ibsi")["resegmentation_intensity_range"]
    assert ibsi_min[0] == -40.0 and math.isnan(ibsi_min[1])
    # relative and sigma modes become absolute thresholds, computed as pyradiomics does
    relative = settings(resegmentation={"range": [0.1, 0.5], "mode": "relative"})
    assert relative["resegmentation_intensity_range"] == [50.0, 250.0]
    sigma = settings(resegmentation={"range": [-1, 1], "mode": "sigma"})
    assert sigma["resegmentation_intensity_range"] == pytest.approx(
        [values.mean() - values.std(), values.mean() + values.std()]
    )
    fbn = settings(discretisation={"bin_count": 32}, gldm_alpha=2, voxel_array_shift=1000)
    assert (fbn["base_discretisation_method"], fbn["base_discretisation_n_bins"]) == (
        "fixed_bin_number", 32,
    )  # fmt: skip
    assert (fbn["ngldm_difference_level"], fbn["stat_value_shift"]) == (2.0, 1000.0)
    no_texture = mirp_settings(params_from_dict({}).extraction, values, texture=False)
    assert no_texture["base_feature_families"] == ["stat", "ih", "morph"]


def test_ibsi_map_uses_mirps_labels():
    mirp_map = get_engine("mirp").ibsi_map()
    pyradiomics_map = get_engine("pyradiomics").ibsi_map()
    assert set(pyradiomics_map) < set(mirp_map)
    # MIRP's PCA axes are IBSI's (pyradiomics': sample covariance, not compliant)
    assert mirp_map["shape_MinorAxisLength"].compliant
    assert not pyradiomics_map["shape_MinorAxisLength"].compliant
    assert mirp_map["firstorder_Kurtosis"].offset == -3.0
    assert mirp_map["mirp_ngl_dc_perc"].tags == ("ngl_dc_perc",)
    # OMBB / MVEE densities: MIRP marks them not IBSI-compliant
    assert not mirp_map["mirp_morph_vol_dens_ombb"].compliant
    assert "mirp_morph_moran_i" not in mirp_map  # not computed (see SKIPPED)
    assert get_engine("mirp").version().startswith("mirp 2.5")


def test_unsupported_settings_are_config_errors(lesion):
    engine = get_engine("mirp")
    for extraction, words in (
        ({"image_types": {"wavelet": {}}}, "image types ['wavelet']"),
        ({"distances": [1, 2]}, "distances [1, 2]"),
        ({"symmetric_glcm": False}, "symmetric_glcm"),
        ({"features": {"shape": ["Maximum2DDiameterSlice"]}}, "shape.Maximum2DDiameterSlice"),
    ):
        params = params_from_dict({"extraction": extraction}).extraction
        with pytest.raises(ConfigError, match=r"mirp engine does not support") as info:
            engine.extract(*lesion, params)
        assert words in str(info.value)
    # as in pyradiomics, a re-segmentation that keeps at most one voxel is an error of the region
    emptied = params_from_dict({"extraction": {"resegmentation": {"range": [5000, 6000]}}})
    with pytest.raises(ValueError, match="Resegmentation excluded too many voxels"):
        engine.extract(*lesion, emptied.extraction)


def test_missing_mirp_raises_config_error_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "mirp", None)  # `import mirp` now raises ImportError
    monkeypatch.delitem(base._INSTANCES, "mirp", raising=False)
    with pytest.raises(ConfigError, match=r'pip install "livermets\[ibsi\]"'):
        get_engine("mirp")
    assert 'pip install "livermets[ibsi]"' in INSTALL_HINT


def test_livermets_imports_without_mirp():
    code = (
        "import sys; sys.modules['mirp'] = None\n"
        "import livermets.radiomics as r\n"
        "assert {'mirp', 'pyradiomics'} <= set(r.available_engines())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_features_cli_with_engine_mirp(tmp_path, features_cli):
    """``engine: mirp`` in a parameter file runs the whole pipeline (crops, cache, tables) and
    agrees with the same run on pyradiomics."""
    manifest = write_cohort(tmp_path / "cohort", 1)
    tables = {}
    for engine in ("mirp", "pyradiomics"):
        params = tmp_path / f"{engine}.yaml"
        params.write_text(f"engine: {engine}\n")
        out = tmp_path / f"{engine}.parquet"
        code, output = features_cli(manifest, "--params", params, "--out", out, "--workers", 1)
        assert code == 0, output
        tables[engine] = pd.read_parquet(out)
        assert pd.read_parquet(tmp_path / f"{engine}_errors.parquet").empty
    mirp, pyradiomics = tables["mirp"], tables["pyradiomics"]
    assert mirp["lesion_id"].tolist() == pyradiomics["lesion_id"].tolist() == [1, 2]
    assert mirp["engine_version"].str.startswith("mirp 2.5").all()
    assert (mirp["params_hash"] != pyradiomics["params_hash"]).all()
    shared = [c for c in pyradiomics.columns if c.startswith("original_") and c in mirp.columns
              and not c.endswith(AXES)]  # fmt: skip
    assert len(shared) == 103 - len(AXES)
    np.testing.assert_allclose(mirp[shared], pyradiomics[shared], rtol=1e-6, atol=1e-12)
    assert mirp["original_mirp_stat_medad"].notna().all()
