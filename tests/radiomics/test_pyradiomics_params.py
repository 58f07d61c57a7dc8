"""pyradiomics' own parameter files: converted, refused key by key, and the same features.

``fixtures/exampleCT.yaml`` and ``fixtures/MR_2D_extraction.yaml`` are verbatim copies of
pyradiomics' ``examples/exampleSettings`` files (pyradiomics 3.0.1 / pyradiomics-bhklab 3.1.4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from livermets.errors import ConfigError
from livermets.radiomics import get_engine, load_params, params_from_dict
from livermets.radiomics.pyradiomics_params import pyradiomics_to_livermets

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE_CT = FIXTURES / "exampleCT.yaml"
GLCM_WITHOUT_SUM_AVERAGE = [
    "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency",
    "Contrast", "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance",
    "JointEnergy", "JointEntropy", "Imc1", "Imc2", "Idm", "Idmn", "Id", "Idn", "InverseVariance",
    "MaximumProbability", "SumEntropy", "SumSquares",
]  # fmt: skip


def blob_case(shape=(20, 40, 40), spacing=(0.9, 0.9, 1.6), seed=0) -> tuple[sitk.Image, ...]:
    """A CT-like image (z, y, x = 20, 40, 40) with a textured, irregular blob and its mask."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    sx, sy, sz = spacing
    r = np.sqrt(((z - 10) * sz / 7) ** 2 + ((y - 19) * sy / 9) ** 2 + ((x - 21) * sx / 8) ** 2)
    mask = (r <= 1.0).astype(np.uint8)
    ct = 40.0 + rng.normal(0, 12, shape)
    ct[mask > 0] += 60 + 25 * np.sin(x[mask > 0] / 2.0) + rng.normal(0, 20, int(mask.sum()))
    image = sitk.GetImageFromArray(ct.astype(np.int16))
    label = sitk.GetImageFromArray(mask)
    for img in (image, label):
        img.SetSpacing(spacing)
        img.SetOrigin((-12.0, 30.0, 5.0))
    return image, label


def pyradiomics_features(params: str | dict, image: sitk.Image, mask: sitk.Image) -> dict:
    """pyradiomics' own extractor on (image, mask), diagnostics left out."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    result = RadiomicsFeatureExtractor(params).execute(image, mask)
    return {k: float(np.asarray(v)) for k, v in result.items() if not k.startswith("diagnostics")}


def assert_same_features(ours: dict, theirs: dict) -> None:
    """Same feature names, values equal to 1e-12 relative (they are computed the same way)."""
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-300, nan_ok=True), name


def test_example_ct_is_read_as_a_livermets_parameter_file():
    params = load_params(EXAMPLE_CT)
    ex = params.extraction
    assert ex.image_types.enabled() == ["original", "log", "wavelet"]
    assert ex.image_types.log.sigma == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (ex.image_types.wavelet.wavelet, ex.image_types.wavelet.level) == ("coif1", 1)
    assert ex.feature_classes == ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm"]
    assert ex.features == {"glcm": GLCM_WITHOUT_SUM_AVERAGE}
    assert ex.resampling.spacing == (1.0, 1.0, 1.0)
    assert (ex.resampling.interpolator, ex.resampling.pad_distance) == ("bspline", 10)
    assert (ex.discretisation.bin_width, ex.discretisation.bin_count) == (25, None)
    assert ex.voxel_array_shift == 1000
    assert (ex.texture, ex.texture_min_voxels) == ("3d", 1)
    assert ex.resegmentation is None and ex.normalisation is None
    assert (ex.crop, ex.pre_crop) == ("pyradiomics", False)
    assert params.regions.lesion_label == 1


def test_crop_keys_enter_the_params_hash_only_when_set():
    base = params_from_dict({}).params_hash()
    assert params_from_dict({"extraction": {"crop": "window"}}).params_hash() == base
    assert params_from_dict({"extraction": {"pre_crop": False}}).params_hash() == base
    assert params_from_dict({"extraction": {"crop": "pyradiomics"}}).params_hash() != base
    with pytest.raises(ConfigError, match="crop: pyradiomics needs preprocessing: pyradiomics"):
        params_from_dict({"extraction": {"crop": "pyradiomics", "preprocessing": "ibsi"}})
    assert params_from_dict({"setting": {"preCrop": True}}).extraction.pre_crop is True


def test_example_ct_gives_pyradiomics_own_features():
    """pyradiomics' RadiomicsFeatureExtractor(exampleCT.yaml) and livermets on the same file."""
    image, mask = blob_case()
    theirs = pyradiomics_features(str(EXAMPLE_CT), image, mask)
    params = load_params(EXAMPLE_CT)
    ours = get_engine(params.engine).extract(image, mask, params.extraction)
    # 14 images (original, 5 LoG, 8 wavelet) x (18 + 22 + 16 + 16 + 14), and 14 shape features
    assert len(theirs) == 14 + 14 * (18 + 22 + 16 + 16 + 14)
    assert "original_glcm_SumAverage" not in ours
    assert "log-sigma-5-0-mm-3D_gldm_LargeDependenceEmphasis" in ours
    assert_same_features(ours, theirs)


MANY_SETTINGS = {
    "imageType": {"Original": {}, "Square": {}, "Gradient": {}, "Exponential": {},
                  "Wavelet": {"start_level": 0, "level": 1, "wavelet": "haar"}},
    "featureClass": {"firstorder": [], "shape": ["VoxelVolume", "Compactness1"], "glcm": None,
                     "glrlm": None, "glszm": None, "gldm": None, "ngtdm": None},
    "setting": {"binCount": 16, "binWidth": 5, "resegmentRange": [60.0, 180.0],
                "resegmentMode": "absolute", "normalize": True, "normalizeScale": 100,
                "removeOutliers": 3, "force2D": True, "force2Ddimension": 0,
                "weightingNorm": "no_weighting", "gldm_a": 1, "distances": [1, 2],
                "symmetricalGLCM": False, "voxelArrayShift": 300, "interpolator": "sitkLinear",
                "resampledPixelSpacing": [1.2, 1.2, 0], "padDistance": 3, "label": 1,
                "additionalInfo": False, "preCrop": True, "minimumROIDimensions": 2},
}  # fmt: skip


def test_every_supported_setting_gives_pyradiomics_own_features():
    image, mask = blob_case(seed=3)
    theirs = pyradiomics_features(MANY_SETTINGS, image, mask)
    params = params_from_dict(MANY_SETTINGS)
    ex = params.extraction
    assert (ex.discretisation.bin_count, ex.discretisation.bin_width) == (16, None)
    assert ex.resegmentation.range == (60.0, 180.0)
    assert (ex.normalisation.scale, ex.normalisation.remove_outliers) == (100, 3)
    assert (ex.texture, ex.texture_aggregation, ex.gldm_alpha) == ("2d", "merge", 1)
    assert (ex.distances, ex.symmetric_glcm, ex.voxel_array_shift) == ([1, 2], False, 300)
    assert ex.resampling.spacing == (1.2, 1.2, 0.0) and ex.resampling.interpolator == "linear"
    assert ex.features == {"shape": ["VoxelVolume", "Compactness1"]}
    ours = get_engine(params.engine).extract(image, mask, ex)
    assert "original_shape_Compactness1" in ours and "wavelet-HH_ngtdm_Busyness" in ours
    assert_same_features(ours, theirs)


def test_resegment_lower_bound_sigma_mode_and_bin_width():
    data = {"setting": {"resegmentRange": [-2], "resegmentMode": "sigma", "binWidth": 10,
                        "interpolator": 1, "sigma": [2.0]},
            "imageType": {"LoG": {}}}  # fmt: skip
    image, mask = blob_case(seed=5)
    params = params_from_dict(data)
    assert params.extraction.resegmentation.range == (-2.0, None)
    assert params.extraction.resegmentation.mode == "sigma"
    assert params.extraction.image_types.enabled() == ["log"]
    assert params.extraction.image_types.log.sigma == [2.0]  # from setting.sigma
    assert params.extraction.resampling.interpolator == "nearest"
    ours = get_engine("pyradiomics").extract(image, mask, params.extraction)
    assert_same_features(ours, pyradiomics_features(data, image, mask))


def test_absent_sections_take_pyradiomics_defaults():
    params = params_from_dict({"setting": {"binWidth": 25}})
    ex = params.extraction
    assert ex.image_types.enabled() == ["original"]
    assert ex.feature_classes == ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
    assert ex.features is None and ex.resampling.spacing is None
    assert params.regions.lesion_label is None
    two_d = params_from_dict({"setting": {"force2D": True}}).extraction
    assert "shape2D" in two_d.feature_classes and two_d.texture == "2d"
    mr = load_params(FIXTURES / "MR_2D_extraction.yaml").extraction
    assert mr.feature_classes[0] == "shape2D" and mr.normalisation.scale == 100
    assert mr.resampling.spacing == (2.0, 2.0, 0.0) and mr.voxel_array_shift == 300


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"setting": {"minimumROISize": 50}}, "'minimumROISize' is not supported"),
        ({"setting": {"resegmentShape": True}}, "'resegmentShape' is not supported"),
        ({"setting": {"weightingNorm": "euclidean"}}, "'weightingNorm' is not supported"),
        ({"setting": {"interpolator": "sitkGaussian"}}, "'interpolator' is not supported"),
        ({"setting": {"correctMask": True}}, "'correctMask' is not supported"),
        ({"setting": {"geometryTolerance": 1e-3}}, "'geometryTolerance' is not supported"),
        ({"setting": {"force2D": True, "force2Ddimension": 1}}, "'force2Ddimension'"),
        ({"setting": {"label_channel": 1}}, "'label_channel' is not supported"),
        ({"setting": {"minimumROIDimensions": 3}}, "'minimumROIDimensions' is not supported"),
        ({"setting": {"binwidth": 25}}, "'binwidth' is not a pyradiomics setting"),
        ({"imageType": {"LBP2D": {}}}, "'imageType.LBP2D' is not supported"),
        ({"imageType": {"Original": {"binWidth": 10}}}, "'imageType.Original.binWidth'"),
        ({"imageType": {"LoG": {}}}, "imageType LoG has no sigma"),
        ({"imageType": {"Blur": {}}}, "'Blur' is not a pyradiomics image type"),
        ({"featureClass": {"colour": None}}, "'colour' is not a pyradiomics feature class"),
        ({"featureClass": {"shape2D": None}}, "shape2D needs setting force2D: true"),
        ({"featureClass": {"glcm": "Contrast"}}, "featureClass.glcm must be a list"),
        ({"setting": {"resegmentRange": [1, 2, 3]}}, "resegmentRange must be"),
        ({"setting": {"resampledPixelSpacing": [1, 1]}}, "must list 3 spacings"),
        ({"setting": {}, "voxelSetting": {"kernelRadius": 2}}, "'voxelSetting' is not supported"),
        ({"setting": {"binWidth": 25}, "extraction": {}}, "mixes pyradiomics sections"),
        ({"setting": [1, 2]}, "'setting' must be a mapping"),
    ],
)
def test_unsupported_pyradiomics_keys_are_named(data, message):
    with pytest.raises(ConfigError, match=message):
        params_from_dict(data, source="p.yaml")


def test_converted_file_loads_to_the_same_parameters(cli, tmp_path):
    out = tmp_path / "params.yaml"
    code, output = cli("params", "convert", str(EXAMPLE_CT), "--out", str(out))
    assert code == 0, output
    written = yaml.safe_load(out.read_text())
    assert "imageType" not in written and written["extraction"]["resampling"]["pad_distance"] == 10
    assert written == pyradiomics_to_livermets(yaml.safe_load(EXAMPLE_CT.read_text()))
    assert load_params(out) == load_params(EXAMPLE_CT)
    assert load_params(out).params_hash() == load_params(EXAMPLE_CT).params_hash()
    code, printed = cli("params", "convert", str(EXAMPLE_CT))  # no --out: printed
    assert code == 0 and yaml.safe_load(printed) == written


def test_convert_refuses_what_it_cannot_honour(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidth: 25\n  resegmentShape: true\n")
    code, output = cli("params", "convert", str(bad), "--out", str(tmp_path / "p.yaml"))
    assert code == 2 and "resegmentShape" in output and not (tmp_path / "p.yaml").exists()
    ours = tmp_path / "ours.yaml"
    ours.write_text("preset: pyradiomics-default\n")
    code, output = cli("params", "convert", str(ours))
    assert code == 2 and "not a pyradiomics parameter file" in output
