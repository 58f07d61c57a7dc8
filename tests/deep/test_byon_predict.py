"""`deep predict` with a classifier the user brings (TorchScript file, classifier.json folder,
MONAI bundle): its probabilities are a known function of livermets' crops, checked to 1e-6; the
lesion and patient tables have the columns of livermets' own deep models; bad input exits 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.cohort import load_manifest
from livermets.deep.config import CropSettings
from livermets.deep.crops import build_crops
from livermets.lesions import LesionSettings, build_lesion_tables
from tests.byon_nets import MeanLogit, MeanTwoClass, ThreeOutputs, save_script
from tests.helpers import make_cohort

# TorchScript is what these backends read; torch deprecates writing it, not reading it
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")
SLOPE, OFFSET = 6.0, -2.0


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two patients with two lesions each: (manifest, lesions table)."""
    manifest = load_manifest(make_cohort(tmp_path_factory.mktemp("byon_cohort")))
    lesions, _ = build_lesion_tables(manifest, LesionSettings())
    return manifest, lesions


def expected(cohort, settings: CropSettings, scale=(0.0, 1.0)) -> pd.DataFrame:
    """Per lesion: the mean over its crops of sigmoid(SLOPE * mean(crop) + OFFSET)."""
    manifest, lesions = cohort
    crops = build_crops(manifest, lesions, settings)
    low, high = scale
    means = (low + crops.images * (high - low)).reshape(len(crops), -1).mean(axis=1)
    prob = 1.0 / (1.0 + np.exp(-(SLOPE * means.astype(np.float64) + OFFSET)))
    table = crops.meta[["patient_id", "lesion_id"]].assign(p=prob)
    return table.groupby(["patient_id", "lesion_id"], sort=False)["p"].mean().reset_index()


def _check(table: pd.DataFrame, want: pd.DataFrame, positive: str, negative: str) -> None:
    merged = want.merge(table, on=["patient_id", "lesion_id"], validate="one_to_one")
    assert len(merged) == len(want) == len(table) == 4
    np.testing.assert_allclose(merged["y_prob"], merged["p"], rtol=0, atol=1e-6)
    assert merged["p"].std() > 1e-3  # the lesions differ: the check can fail
    assert (merged["y_pred"] == np.where(merged["p"] >= 0.5, positive, negative)).all()


def test_torchscript_file_with_cli_options(cli, cohort, tmp_path):
    """A TorchScript logit classifier on 2D 16-px crops windowed with the abdomen preset."""
    manifest, _ = cohort
    save_script(MeanLogit(SLOPE, OFFSET), tmp_path / "clf.pt")
    out = tmp_path / "preds.parquet"
    code, output = cli("deep", "predict", tmp_path / "clf.pt", manifest.path, "--out", out,
                       "--crop", "16", "--window", "abdomen", "--classes",
                       "hemangioma,metastasis", "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["rows"] == 4 and summary["model"] == "clf" and summary["output"] == "logit"
    table = pd.read_parquet(out)
    assert list(table.columns) == ["patient_id", "lesion_id", "model", "y_prob", "y_pred"]
    want = expected(cohort, CropSettings(size=16, window="abdomen"))
    _check(table, want, "metastasis", "hemangioma")
    patients = pd.read_parquet(tmp_path / "preds_patients.parquet")
    best = want.groupby("patient_id")["p"].max()
    np.testing.assert_allclose(patients.set_index("patient_id").loc[best.index, "p_metastasis"],
                               best, atol=1e-6)
    np.testing.assert_allclose(patients[["p_hemangioma", "p_metastasis"]].sum(1), 1.0)


def test_classifier_folder_two_class_softmax_3d_fixed_spacing(cohort, tmp_path):
    """classifier.json: 3D crops of 8 x 16 x 16 voxels at 1 x 1 x 2.5 mm, scaled to [-1, 1],
    two-class logits (softmax), a threshold of 0.7."""
    from livermets.deep.study import predict_deep

    manifest, _ = cohort
    folder = tmp_path / "mine"
    folder.mkdir()
    save_script(MeanTwoClass(SLOPE, OFFSET), folder / "net.ts")
    crops = {"mode": "3d", "size": 16, "depth": 8, "spacing": [1.0, 1.0, 2.5],
             "window": [50, 400]}
    (folder / "classifier.json").write_text(json.dumps({
        "model": "net.ts", "crops": crops, "output": "logits", "scale_to": [-1, 1],
        "classes": ["benign", "malignant"], "threshold": 0.7}))
    summary = predict_deep(folder, manifest.path, tmp_path / "p.csv")
    assert summary["model"] == "mine" and summary["threshold"] == 0.7
    table = pd.read_csv(tmp_path / "p.csv", dtype={"patient_id": str, "lesion_id": str})
    want = expected(cohort, CropSettings(**crops), scale=(-1.0, 1.0))
    merged = want.merge(table, on=["patient_id", "lesion_id"])
    np.testing.assert_allclose(merged["y_prob"], merged["p"], atol=1e-6)
    assert (merged["y_pred"] == np.where(merged["p"] >= 0.7, "malignant", "benign")).all()


def test_bundle_classifier(cohort, tmp_path):
    """A MONAI bundle (metadata + models/model.ts): crop size and class names from metadata."""
    from livermets.deep.study import predict_deep

    manifest, _ = cohort
    bundle = tmp_path / "clf_bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    (bundle / "configs" / "metadata.json").write_text(json.dumps({"network_data_format": {
        "inputs": {"image": {"num_channels": 1, "spatial_shape": [24, 24]}},
        "outputs": {"pred": {"num_channels": 2,
                             "channel_def": {"0": "hemangioma", "1": "metastasis"}}}}}))
    save_script(MeanTwoClass(SLOPE, OFFSET), bundle / "models" / "model.ts")
    predict_deep(bundle, manifest.path, tmp_path / "b.parquet", options={"output": "logits"})
    table = pd.read_parquet(tmp_path / "b.parquet")
    _check(table, expected(cohort, CropSettings(size=24)), "metastasis", "hemangioma")


def test_fixed_spacing_crops_have_the_voxel_size_asked(tmp_path):
    """On an image whose intensity is the x coordinate in mm, neighbouring crop columns differ
    by the crop spacing (1.5 mm), whatever the lesion size; without a spacing they do not."""
    from livermets.cohort import load_manifest

    shape, spacing = (6, 40, 50), (0.8, 0.8, 2.5)
    ramp = np.broadcast_to(np.arange(shape[2]) * spacing[0], shape).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[2:4, 15:22, 20:27] = 1
    for name, array in (("ct", ramp), ("lesions", mask)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(spacing)
        sitk.WriteImage(image, str(tmp_path / f"{name}.nii.gz"))
    pd.DataFrame([{"patient_id": "r", "image": "ct.nii.gz", "lesion_mask": "lesions.nii.gz",
                   "label": 1}]).to_csv(tmp_path / "m.csv", index=False)
    manifest = load_manifest(tmp_path / "m.csv")
    lesions, _ = build_lesion_tables(manifest, LesionSettings())
    width = 100.0
    fixed = build_crops(manifest, lesions, CropSettings(size=8, spacing=(1.5, 1.5, 2.5),
                                                        window=(20.0, width), slices="largest"))
    steps = np.diff(fixed.images[0, 0], axis=1) * width
    np.testing.assert_allclose(steps, 1.5, atol=1e-4)
    scaled = build_crops(manifest, lesions, CropSettings(size=8, window=(20.0, width),
                                                         slices="largest"))
    assert not np.allclose(np.diff(scaled.images[0, 0], axis=1) * width, 1.5, atol=0.1)


def _refused(cli, *args):
    code, output = cli("deep", "predict", *args)
    assert code == 2, output
    assert "Traceback" not in output
    return " ".join(output.split())


def test_bad_classifiers_exit_2(cli, cohort, tmp_path):
    manifest, _ = cohort
    out = tmp_path / "x.csv"
    message = _refused(cli, tmp_path / "absent.pt", manifest.path, "--out", out)
    assert "absent.pt does not exist" in message and "TorchScript file" in message
    save_script(ThreeOutputs(), tmp_path / "three.pt")
    message = _refused(cli, tmp_path / "three.pt", manifest.path, "--out", out, "--crop", "16")
    assert "output logit needs one value per crop" in message and "[batch, 3]" in message
    message = _refused(cli, tmp_path / "three.pt", manifest.path, "--out", out, "--crop", "16",
                       "--output", "probabilities")
    assert "do not sum to 1" in message
    message = _refused(cli, tmp_path / "three.pt", manifest.path, "--out", out, "--crop",
                       "8,16,32")
    assert "H = W" in message
    message = _refused(cli, tmp_path / "three.pt", manifest.path, "--out", out, "--output",
                       "softmax")
    assert "output" in message and "'logit', 'probability', 'logits' or 'probabilities'" \
        in message
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "classifier.json").write_text(json.dumps({"modle": "three.pt"}))
    message = _refused(cli, folder, manifest.path, "--out", out)
    assert "modle" in message and "Extra inputs are not permitted" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    message = _refused(cli, empty, manifest.path, "--out", out)
    assert "card.json" in message
    own = tmp_path / "own"
    own.mkdir()
    (own / "card.json").write_text("{}")
    message = _refused(cli, own, manifest.path, "--out", out, "--crop", "16")
    assert "its card fixes the crops" in message
    assert not out.exists()
