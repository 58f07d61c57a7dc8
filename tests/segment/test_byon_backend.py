"""The torchscript and bundle backends on a phantom whose masks a thresholding network predicts
exactly: voxel-for-voxel masks, through the library and the CLI; and the errors of bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
from pydantic import ValidationError

from livermets.cohort import load_manifest
from livermets.errors import ConfigError, NetworkError
from livermets.segment import make_backend
from tests.byon_nets import (
    HalfResolution,
    LabelMapSegmenter,
    ThresholdSegmenter,
    save_script,
)
from tests.helpers import ball

# TorchScript is what these backends read; torch deprecates writing it, not reading it
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")
SPACING = (0.8, 0.8, 2.5)
SHAPE = (10, 40, 48)  # z, y, x
LABELS = "liver=1,2;lesions=2"


def phantom():
    """(CT array, liver incl. lesion, lesion) in (z, y, x): air, fat, liver 120 HU, lesion 40."""
    ct = np.full(SHAPE, -1000, dtype=np.int16)
    ct[1:-1, 4:-4, 4:-4] = -100
    liver = ball(SHAPE, (5, 20, 22), 13.0, SPACING)
    lesion = ball(SHAPE, (5, 18, 26), 5.0, SPACING)
    ct[liver] = 120
    ct[lesion] = 40
    return ct, liver, lesion


@pytest.fixture
def cohort(tmp_path):
    """A one-patient manifest of the phantom; (manifest path, liver, lesion)."""
    ct, liver, lesion = phantom()
    image = sitk.GetImageFromArray(ct)
    image.SetSpacing(SPACING)
    image.SetOrigin((-20.0, 10.0, 5.0))
    (tmp_path / "p1").mkdir()
    sitk.WriteImage(image, str(tmp_path / "p1" / "ct.nii.gz"))
    path = tmp_path / "manifest.csv"
    pd.DataFrame([{"patient_id": "p1", "image": "p1/ct.nii.gz"}]).to_csv(path, index=False)
    return path, liver, lesion


def _predict(backend, manifest_path):
    row = load_manifest(manifest_path).rows()[0]
    backend.check()
    return backend.predict(sitk.ReadImage(str(row.image)), row)


def _dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("options", [
    {},
    {"axes": "xyz", "roi": (32, 16, 8)},
    {"orientation": "RAS"},
    {"orientation": "RAS", "axes": "xyz", "roi": "24,24,8"},
    {"spacing": SPACING},
    {"output": "labels"},
])
def test_torchscript_masks_equal_the_thresholds(cohort, tmp_path, options):
    """Several windows per image (roi smaller than the image), any axis order / orientation:
    the masks are the network's rule, voxel for voxel."""
    manifest, liver, lesion = cohort
    net = LabelMapSegmenter() if options.get("output") == "labels" else ThresholdSegmenter()
    save_script(net, tmp_path / "net.pt")
    backend = make_backend("torchscript", model=tmp_path / "net.pt", labels=LABELS,
                           **{"roi": (8, 16, 32), **options})
    raw = _predict(backend, manifest)
    assert raw.liver.shape == raw.lesions.shape == SHAPE
    assert np.array_equal(raw.liver, liver)
    assert np.array_equal(raw.lesions > 0, lesion) and set(np.unique(raw.lesions)) == {0, 1}
    assert raw.lesion_classes == ["lesion"]


def test_torchscript_on_a_coarser_grid_comes_back_on_the_image_grid(cohort, tmp_path):
    """Resampled to 1.6 x 1.6 x 5 mm and back (nearest neighbour): the image's grid, close to
    the exact masks."""
    manifest, liver, lesion = cohort
    save_script(ThresholdSegmenter(), tmp_path / "net.pt")
    backend = make_backend("torchscript", model=tmp_path / "net.pt", spacing="1.6,1.6,5",
                           roi=(4, 16, 16))
    raw = _predict(backend, manifest)
    assert raw.liver.shape == SHAPE
    assert 0.85 < _dice(raw.liver, liver) < 1.0
    # the 5 mm lesion at 5 mm slices: most of it is found (the partial-volume ring where fat
    # meets liver also falls in the lesion's intensity range, as the rule says)
    found = raw.lesions > 0
    assert 0.5 < (found & lesion).sum() / lesion.sum() < 1.0


def test_intensity_range_scales_before_the_network(cohort, tmp_path):
    """intensity_range -200..300 to 0..1: thresholds in scaled units give the same masks."""
    manifest, liver, lesion = cohort
    scaled = ThresholdSegmenter((0 + 200) / 500, (80 + 200) / 500, (200 + 200) / 500)
    save_script(scaled, tmp_path / "net.pt")
    backend = make_backend("torchscript", model=tmp_path / "net.pt",
                           intensity_range="-200,300", roi=(8, 32, 32))
    raw = _predict(backend, manifest)
    assert np.array_equal(raw.liver, liver) and np.array_equal(raw.lesions > 0, lesion)
    assert backend.resolved["scale_to"] == (0.0, 1.0) and backend.resolved["clip"] is True


def _bundle(folder, *, config=True, weights="pt", scaled=True):
    """A MONAI bundle: metadata with channel names, inference.json with network_def and the
    preprocessing (RAS, spacing, ScaleIntensityRanged, sliding window), models/model.pt."""
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    metadata = {
        "version": "0.1.0", "monai_version": "1.6.1",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "num_channels": 1,
                                 "spatial_shape": [32, 32, 8]}},
            "outputs": {"pred": {"type": "image", "num_channels": 3,
                                 "channel_def": {"0": "background", "1": "liver",
                                                 "2": "liver tumour"}}},
        },
    }
    (folder / "configs" / "metadata.json").write_text(json.dumps(metadata))
    inference = {
        "pixdim": list(SPACING),
        "network_def": {"_target_": "tests.byon_nets.ThresholdSegmenter"},
        "preprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "LoadImaged", "keys": "image"},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
            {"_target_": "Spacingd", "keys": "image", "pixdim": "@pixdim"},
            {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": -200, "a_max": 300,
             "b_min": 0.0, "b_max": 1.0, "clip": True},
        ]},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [24, 24, 8],
                    "overlap": 0.5},
    }
    if config:
        (folder / "configs" / "inference.json").write_text(json.dumps(inference))
    net = (ThresholdSegmenter(0.4, 0.56, 0.8) if scaled else ThresholdSegmenter())
    if weights == "pt":
        torch.save(net.state_dict(), folder / "models" / "model.pt")
    elif weights == "ts":
        save_script(net, folder / "models" / "model.ts")
    return folder


def test_bundle_reads_its_preprocessing_and_labels(cohort, tmp_path):
    """The bundle's spacing, RAS orientation, intensity scaling, roi and channel names are used;
    the weights come from models/model.pt (network_def alone has HU thresholds)."""
    manifest, liver, lesion = cohort
    bundle = _bundle(tmp_path / "bundle")
    backend = make_backend("bundle", model=bundle)
    raw = _predict(backend, manifest)
    r = backend.resolved
    assert r["spacing"] == SPACING and r["orientation"] == "RAS" and r["axes"] == "xyz"
    assert r["intensity_range"] == (-200.0, 300.0) and r["roi"] == (24, 24, 8)
    assert r["overlap"] == 0.5 and backend.mapping == {"liver": (1, 2), "lesions": (2,)}
    assert np.array_equal(raw.liver, liver) and np.array_equal(raw.lesions > 0, lesion)
    sig = backend.signature()
    assert set(sig["files_sha256"]) == {"metadata.json", "inference.json", "model.pt"}


def test_bundle_with_torchscript_weights_only(cohort, tmp_path):
    """models/model.ts and metadata.json, no config: MONAI's defaults (xyz arrays, image grid)
    and the options say the rest."""
    manifest, liver, lesion = cohort
    bundle = _bundle(tmp_path / "bundle", config=False, weights="ts", scaled=False)
    backend = make_backend("bundle", model=bundle, roi=(16, 16, 8))
    raw = _predict(backend, manifest)
    assert backend.resolved["axes"] == "xyz" and backend.resolved["spacing"] is None
    assert np.array_equal(raw.liver, liver) and np.array_equal(raw.lesions > 0, lesion)


def _masks(out):
    folder = out / "masks" / "p1"
    return tuple(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{n}.nii.gz")))
                 for n in ("liver", "lesions"))


def test_cli_torchscript_and_bundle(cli, cohort, tmp_path):
    """`segment --backend torchscript|bundle` writes the exact masks (post-processing keeps
    them: one liver component, the lesion inside it) and the predicted manifest."""
    manifest, liver, lesion = cohort
    save_script(ThresholdSegmenter(), tmp_path / "net.pt")
    code, output = cli("segment", manifest, "--backend", "torchscript", "--model",
                       tmp_path / "net.pt", "--labels", LABELS, "--set", "roi=8,32,32",
                       "--set", "overlap=0.5", "--threads", "1", "--out", tmp_path / "ts",
                       "--json")
    assert code == 0, output
    assert json.loads(output)["n_lesions"] == 1
    got_liver, got_lesions = _masks(tmp_path / "ts")
    assert np.array_equal(got_liver > 0, liver) and np.array_equal(got_lesions > 0, lesion)
    table = pd.read_csv(tmp_path / "ts" / "manifest.csv")
    assert table.loc[0, "lesion_mask"] == "masks/p1/lesions.nii.gz"
    # the same command again resumes; a different setting in the same folder is refused
    code, output = cli("segment", manifest, "--backend", "torchscript", "--model",
                       tmp_path / "net.pt", "--labels", LABELS, "--set", "roi=8,32,32",
                       "--set", "overlap=0.5", "--threads", "1", "--out", tmp_path / "ts",
                       "--json")
    assert code == 0 and json.loads(output)["resumed"] == 1
    code, output = cli("segment", manifest, "--backend", "torchscript", "--model",
                       tmp_path / "net.pt", "--set", "roi=8,16,16", "--out", tmp_path / "ts")
    assert code == 2 and "another backend, model or setting" in output

    bundle = _bundle(tmp_path / "bundle")
    code, output = cli("segment", manifest, "--backend", "bundle", "--model", bundle,
                       "--out", tmp_path / "b")
    assert code == 0, output
    got_liver, got_lesions = _masks(tmp_path / "b")
    assert np.array_equal(got_liver > 0, liver) and np.array_equal(got_lesions > 0, lesion)


def _refused(cli, manifest, out, *args):
    code, output = cli("segment", manifest, "--out", out, *args)
    assert code == 2, output
    assert "Traceback" not in output and not out.exists()
    return " ".join(output.split())


def test_cli_bad_networks_exit_2_and_write_nothing(cli, cohort, tmp_path):
    manifest, _, _ = cohort
    out = tmp_path / "out"
    message = _refused(cli, manifest, out, "--backend", "torchscript", "--model",
                       tmp_path / "absent.pt")
    assert "absent.pt does not exist" in message and "torch.jit.save" in message
    torch.save(ThresholdSegmenter().state_dict(), tmp_path / "state.pt")
    message = _refused(cli, manifest, out, "--backend", "torchscript", "--model",
                       tmp_path / "state.pt")
    assert "is not a TorchScript file" in message and "torch.jit.script" in message
    save_script(HalfResolution(), tmp_path / "half.pt")
    message = _refused(cli, manifest, out, "--backend", "torchscript", "--model",
                       tmp_path / "half.pt", "--set", "roi=8,16,16")
    assert "returned shape [1, 3, 4, 8, 8] for an input of shape [1, 1, 8, 16, 16]" in message
    save_script(LabelMapSegmenter(), tmp_path / "labels.pt")
    message = _refused(cli, manifest, out, "--backend", "torchscript", "--model",
                       tmp_path / "labels.pt", "--set", "roi=8,16,16")
    assert "returns 1 output channel" in message and "output=labels" in message
    message = _refused(cli, manifest, out, "--backend", "torchscript", "--model",
                       tmp_path / "labels.pt", "--set", "spacingg=1,1,1")
    assert "spacingg" in message and "Extra inputs are not permitted" in message
    message = _refused(cli, manifest, out, "--backend", "torchscript", "--model",
                       tmp_path / "labels.pt", "--set", "roi")
    assert "must be KEY=VALUE" in message
    message = _refused(cli, manifest, out, "--backend", "nnunet", "--model", tmp_path,
                       "--set", "roi=8,8,8")
    assert "--set is for the torchscript and bundle backends" in message
    message = _refused(cli, manifest, out, "--backend", "bundle", "--model", tmp_path / "nob")
    assert "does not exist" in message and "configs/metadata.json" in message


def test_bad_options_and_bundles_give_clear_errors(cohort, tmp_path):
    save_script(ThresholdSegmenter(), tmp_path / "net.pt")
    with pytest.raises(ConfigError, match="orientation 'RAX' must be 3 letters"):
        make_backend("torchscript", model=tmp_path / "net.pt", orientation="RAX")
    with pytest.raises(ConfigError, match="unknown regions"):
        make_backend("torchscript", model=tmp_path / "net.pt", labels="kidney=3")
    backend = make_backend("torchscript", model=tmp_path / "net.pt", labels="liver=1;lesions=5",
                           roi=(8, 8, 8))
    with pytest.raises(ConfigError, match="names value 5, but the network has 3 output"):
        backend.check()
    two_channels = make_backend("torchscript", model=tmp_path / "net.pt", roi=(8, 8, 8),
                                channels="image,image_arterial")
    two_channels.check()  # the thresholding network reads channel 0 of any number
    with pytest.raises(NetworkError, match=r"is not a MONAI bundle: configs/metadata\.json"):
        make_backend("bundle", model=tmp_path).check()
    no_config = _bundle(tmp_path / "b1", config=False)
    with pytest.raises(NetworkError, match=r"no configs/inference\.json .* with network_def"):
        make_backend("bundle", model=no_config).check()
    no_weights = _bundle(tmp_path / "b2", weights=None)
    with pytest.raises(NetworkError, match=r"models/model\.pt or models/model\.ts is missing"):
        make_backend("bundle", model=no_weights).check()
    wrong = _bundle(tmp_path / "b3")
    torch.save({"conv.weight": torch.zeros(3)}, wrong / "models" / "model.pt")
    with pytest.raises(NetworkError, match="does not fit network_def"):
        make_backend("bundle", model=wrong).check()
    with pytest.raises(ConfigError, match="unknown segmentation backend"):
        make_backend("torchscripts", model=tmp_path / "net.pt")


def test_bundle_with_a_monai_network_gives_its_direct_inference(cohort, tmp_path):
    """network_def naming a MONAI UNet, random weights in models/model.pt: the backend's label
    map is the network's own sliding-window argmax on the (x, y, z) array."""
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import UNet

    manifest, _, _ = cohort
    args = {"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [4, 8],
            "strides": [2], "num_res_units": 0}
    torch.manual_seed(3)
    net = UNet(**args).eval()
    bundle = tmp_path / "unet"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    (bundle / "configs" / "metadata.json").write_text(json.dumps({"version": "0.1.0"}))
    (bundle / "configs" / "inference.json").write_text(json.dumps(
        {"network_def": {"_target_": "monai.networks.nets.UNet", **args}}))
    torch.save(net.state_dict(), bundle / "models" / "model.pt")
    backend = make_backend("bundle", model=bundle, roi="16,16,8", intensity_range="-1000,200")
    row = load_manifest(manifest).rows()[0]
    image = sitk.ReadImage(str(row.image))
    backend.check()
    got = backend.predict_labels(image, row)
    volume = (sitk.GetArrayFromImage(image).astype(np.float32) + 1000) / 1200
    with torch.inference_mode():
        logits = sliding_window_inference(
            torch.from_numpy(np.ascontiguousarray(volume.transpose(2, 1, 0)))[None, None],
            roi_size=(16, 16, 8), sw_batch_size=1, predictor=net, overlap=0.25, mode="gaussian")
    want = logits.argmax(1)[0].numpy().transpose(2, 1, 0)
    assert len(np.unique(want)) > 1
    assert np.array_equal(got, want)


def test_study_segmentation_options_are_validated(tmp_path):
    """A study YAML's `segmentation:` with backend torchscript: options go to the backend, a
    mistyped one is an error."""
    from livermets.study.segmentation import SegmentationSpec, _backend

    save_script(ThresholdSegmenter(), tmp_path / "net.pt")
    spec = SegmentationSpec(backend="torchscript", model=tmp_path / "net.pt",
                            options={"roi": [8, 16, 32], "labels": {"liver": [1, 2],
                                                                    "lesions": [2]}})
    backend = _backend(spec)
    assert backend.settings.roi == (8, 16, 32)
    assert backend.settings.labels == {"liver": (1, 2), "lesions": (2,)}
    # validated where the YAML enters, before any segmentation runs
    with pytest.raises(ValidationError, match="rois: Extra inputs are not permitted"):
        SegmentationSpec(backend="torchscript", model=tmp_path / "net.pt",
                         options={"rois": [8, 16, 32]})


def test_several_lesion_values_give_lesion_classes(cohort, tmp_path):
    """lesions=1,2: two lesion classes (values 1 and 2 of the lesion map, named label_1 and
    label_2), as for nnU-Net models with several lesion labels."""
    manifest, liver, lesion = cohort
    save_script(ThresholdSegmenter(), tmp_path / "net.pt")
    backend = make_backend("torchscript", model=tmp_path / "net.pt", roi=(8, 32, 32),
                           labels="liver=1,2;lesions=1,2")
    raw = _predict(backend, manifest)
    assert raw.lesion_classes == ["label_1", "label_2"]
    assert np.array_equal(raw.lesions == 2, lesion)
    assert np.array_equal(raw.lesions == 1, liver & ~lesion)
