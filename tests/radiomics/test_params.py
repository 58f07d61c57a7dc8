"""Parameter files: schema validation, presets, params hash."""

from __future__ import annotations

import pytest

from livermets.errors import ConfigError
from livermets.radiomics import load_params, params_from_dict, preset_names, preset_params
from livermets.radiomics.engines.pyradiomics_engine import pyradiomics_settings


def test_presets_are_valid_and_listed():
    names = preset_names()
    assert names == [
        "ibsi-config-a", "ibsi-config-c", "ibsi-digital-phantom", "pyradiomics-default",
        "seed-ct-liver", "seed-ct-liver-original", "seed-ct-mlm", "seed-mri-rectum",
    ]  # fmt: skip
    default = preset_params("pyradiomics-default").extraction
    assert default.discretisation.bin_width == 25
    assert default.feature_classes == [
        "firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm",
    ]  # fmt: skip
    config_c = pyradiomics_settings(preset_params("ibsi-config-c").extraction)
    assert config_c["resampledPixelSpacing"] == [2.0, 2.0, 2.0]
    assert config_c["interpolator"] == "sitkLinear"
    assert config_c["resegmentRange"] == [-1000, 400]
    assert config_c["voxelArrayShift"] == 0
    mri = pyradiomics_settings(preset_params("seed-mri-rectum").extraction)
    assert mri["normalize"] is True and mri["normalizeScale"] == 100 and mri["force2D"] is True


def test_yaml_overrides_preset(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "preset: seed-ct-liver\nextraction:\n  discretisation: {bin_count: 32}\n"
        "regions: {ring_mm: [3, 10], liver: true}\naggregation: max\n"
    )
    params = load_params(path)
    assert params.extraction.discretisation.bin_count == 32
    assert params.extraction.discretisation.bin_width is None
    assert params.extraction.image_types.log.sigma == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert params.regions.ring_mm == [3, 10] and params.regions.liver
    assert params.aggregation == "max"
    settings = pyradiomics_settings(params.extraction)
    assert settings["binCount"] == 32 and "binWidth" not in settings


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"extraction": {"discretisation": {"bin_width": 25, "bin_count": 32}}}, "not both"),
        ({"extraction": {"bin_widht": 25}}, "extraction.bin_widht"),
        ({"extraction": {"feature_classes": ["glcm", "colour"]}}, "feature_classes.1"),
        ({"extraction": {"image_types": {"log": {"sigma": [0, 1]}}}}, "sigma must be > 0"),
        ({"regions": {"lesion": False}}, "no region is enabled"),
        ({"regions": {"ring_mm": [-2]}}, "must be > 0 mm"),
        ({"regions": {"extra": ["liver"]}}, "collide"),
        ({"aggregation": "median"}, "aggregation"),
        ({"extraction": {"feature_classes": ["shape2D"]}}, "shape2D needs texture: 2d"),
        ({"preset": "nope"}, "unknown radiomics preset 'nope'"),
    ],
)
def test_invalid_parameters_say_what_is_wrong(data, message):
    with pytest.raises(ConfigError, match=message):
        params_from_dict(data)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("extraction: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_params(bad)


def test_params_hash_depends_on_extraction_only():
    base = params_from_dict({})
    assert base.params_hash() == params_from_dict({}).params_hash()
    assert base.params_hash() == params_from_dict({"regions": {"liver": True}}).params_hash()
    changed = params_from_dict({"extraction": {"discretisation": {"bin_width": 10}}})
    assert changed.params_hash() != base.params_hash()
    ibsi = params_from_dict({"extraction": {"preprocessing": "ibsi"}})
    assert ibsi.params_hash() != base.params_hash()
    explicit = params_from_dict({"extraction": {"preprocessing": "pyradiomics"}})
    assert explicit.params_hash() == base.params_hash()


def test_rounding_needs_ibsi_preprocessing():
    with pytest.raises(ConfigError, match="round_intensities needs preprocessing: ibsi"):
        params_from_dict({"extraction": {"resampling": {"round_intensities": True}}})
    assert preset_params("ibsi-config-c").extraction.preprocessing == "ibsi"


def test_mlm_template_extracts_the_liver_and_primary_of_lesion_free_patients(tmp_path):
    """The nomogram patients have no liver lesion: its preset must not ask for lesion regions."""
    from importlib import resources

    import yaml

    text = (resources.files("livermets") / "templates" / "mlm_nomogram.yaml").read_text()
    params = preset_params(yaml.safe_load(text)["data"]["radiomics_params"])
    assert (params.regions.lesion, params.regions.ring_mm) == (False, [])
    assert (params.regions.liver, params.regions.primary) == (True, True)
    assert params.extraction.image_types.enabled() == ["original"]
