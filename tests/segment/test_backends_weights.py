"""TotalSegmentator and nnU-Net backends up to the weights check: the exact missing-weights
messages, nothing written, and no network (every connection attempt fails loudly)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.segment import register
from livermets.errors import InputFileError
from livermets.segment import make_backend
from livermets.segment.backends.nnunet import default_label_map
from livermets.segment.backends.totalseg import MissingWeightsError
from tests.helpers import make_cohort

URL = "https://github.com/wasserth/TotalSegmentator/releases/download"


class NetworkUsed(ConnectionRefusedError):
    """Raised whenever code under test opens a network connection (an OSError, as offline)."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """A fresh TotalSegmentator home, and any connection attempt raises."""
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path / "tshome"))
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "tshome" / "nnunet" / "results"))

    def refuse(*args, **kwargs):
        raise NetworkUsed("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def expected_message(weights: Path, reason: str) -> str:
    """The message for the fast liver model plus the liver-lesion model, written out by hand."""
    return "\n".join(
        [
            f"TotalSegmentator weights are missing and {reason}; nothing was written.",
            "Missing (task, role: weights folder, download):",
            "  - task 'total', model: Dataset297_TotalSegmentator_total_3mm_1559subj (weights id "
            f"297), {URL}/v2.0.0-weights/Dataset297_TotalSegmentator_total_3mm_1559subj.zip",
            "  - task 'total', crop model: Dataset298_TotalSegmentator_total_6mm_1559subj "
            f"(weights id 298), {URL}/v2.0.0-weights/"
            "Dataset298_TotalSegmentator_total_6mm_1559subj.zip",
            "  - task 'liver_lesions', model: Dataset591_ct_liver_lesions_842subj (weights id "
            f"591), {URL}/v2.5.0-weights/Dataset591_ct_liver_lesions_842subj.zip",
            f"Weights folder: {weights} (set by TOTALSEG_WEIGHTS_PATH, else "
            "TOTALSEG_HOME_DIR/nnunet/results, default ~/.totalsegmentator/nnunet/results).",
            "To install offline: on a machine with internet download each zip above (or run "
            "`totalseg_download_weights -t TASK` for total liver_lesions there and copy the "
            "listed folders from its weights folder); then here either unzip each zip into the "
            "weights folder (`totalseg_import_weights -i FILE.zip` does this), or unzip them "
            "into any folder DIR and pass --weights-dir DIR (it sets TOTALSEG_WEIGHTS_PATH).",
        ]
    )


def test_totalsegmentator_offline_gives_the_exact_message(tmp_path):
    backend = make_backend("totalsegmentator", fast=True, download=False)
    with pytest.raises(MissingWeightsError) as info:
        backend.check()
    weights = tmp_path / "tshome" / "nnunet" / "results"
    assert str(info.value) == expected_message(weights, "downloads are off (--offline)")
    assert not (tmp_path / "tshome").exists()  # the check itself writes nothing


def test_totalsegmentator_without_network_gives_the_exact_message(tmp_path):
    backend = make_backend("totalsegmentator", fast=True)
    with pytest.raises(MissingWeightsError) as info:
        backend.check()
    weights = tmp_path / "tshome" / "nnunet" / "results"
    reason = (
        "could not be downloaded (github.com:443 unreachable: NetworkUsed: network disabled in "
        "tests)"
    )
    assert str(info.value) == expected_message(weights, reason)


def test_totalsegmentator_failed_download_gives_the_exact_message(tmp_path, monkeypatch):
    """The host answers but TotalSegmentator's own download fails: its error is the reason."""
    import requests
    from totalsegmentator import libs

    from livermets.segment.backends import totalseg

    monkeypatch.setattr(totalseg, "_network_reason", lambda url, timeout=10.0: None)
    calls = []

    def failing_get(url, *args, **kwargs):
        calls.append(url)
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(libs.requests, "get", failing_get)
    backend = make_backend("totalsegmentator", fast=True)
    with pytest.raises(MissingWeightsError) as info:
        backend.check()
    assert calls == [f"{URL}/v2.0.0-weights/Dataset297_TotalSegmentator_total_3mm_1559subj.zip"]
    weights = tmp_path / "tshome" / "nnunet" / "results"
    reason = "could not be downloaded (ConnectionError: connection refused)"
    assert str(info.value) == expected_message(weights, reason)


def test_totalsegmentator_installed_weights_pass_the_check(tmp_path):
    weights = tmp_path / "tshome" / "nnunet" / "results"
    for folder in (
        "Dataset297_TotalSegmentator_total_3mm_1559subj",
        "Dataset298_TotalSegmentator_total_6mm_1559subj",
        "Dataset591_ct_liver_lesions_842subj",
    ):
        fold = weights / folder / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "fold_0"
        fold.mkdir(parents=True)
        (fold / "checkpoint_final.pth").write_bytes(b"")
    make_backend("totalsegmentator", fast=True).check()  # no download, no network


def test_totalsegmentator_cli_writes_nothing(tmp_path):
    app = new_app("test")
    register(app)
    app.command("noop")(lambda: None)
    manifest = make_cohort(tmp_path / "cohort", 1)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["segment", str(manifest), "--backend", "totalsegmentator", "--fast", "--offline",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Dataset591_ct_liver_lesions_842subj" in result.output
    assert "totalseg_import_weights -i FILE.zip" in " ".join(result.output.split())
    assert not out.exists()


def _nnunet_folder(root: Path, labels: dict) -> Path:
    folder = root / "Dataset123_Liver" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    (folder / "fold_0").mkdir(parents=True)
    dataset = {"channel_names": {"0": "CT"}, "labels": labels, "file_ending": ".nii.gz"}
    (folder / "dataset.json").write_text(json.dumps(dataset))
    (folder / "plans.json").write_text(json.dumps({"configurations": {}}))
    return folder


def test_nnunet_missing_checkpoint_gives_the_exact_message(tmp_path):
    folder = _nnunet_folder(tmp_path, {"background": 0, "liver": 1, "tumor": 2})
    tail = (
        "nothing was written. Give the trained model folder that holds dataset.json, "
        "plans.json and fold_N/checkpoint_final.pth (e.g. nnUNet_results/Dataset123_Liver/"
        "nnUNetTrainer__nnUNetPlans__3d_fullres); to install a model shared as a zip offline, "
        "run `nnUNetv2_install_pretrained_model_from_zip MODEL.zip` (it unpacks into "
        "$nnUNet_results) and give the unpacked folder; pass --folds for the folds that exist, "
        "or --checkpoint checkpoint_best.pth if only that was saved."
    )
    with pytest.raises(MissingWeightsError) as info:
        make_backend("nnunet", model=folder).check()
    assert str(info.value) == (
        f"nnU-Net model weights are missing in {folder}: no checkpoint_final.pth found "
        f"({folder}/fold_*/checkpoint_final.pth); {tail}"
    )
    (folder / "fold_0" / "checkpoint_final.pth").write_bytes(b"")
    with pytest.raises(MissingWeightsError) as info:
        make_backend("nnunet", model=folder, folds=(0, 1)).check()
    assert str(info.value) == (
        f"nnU-Net model weights are missing in {folder}: no checkpoint_final.pth found "
        f"({folder}/fold_1/checkpoint_final.pth); {tail}"
    )
    make_backend("nnunet", model=folder, folds=(0,)).check()  # fold 0 is there


def test_nnunet_cli_without_weights_writes_nothing(tmp_path):
    folder = _nnunet_folder(tmp_path, {"background": 0, "liver": 1, "tumor": 2})
    app = new_app("test")
    register(app)
    app.command("noop")(lambda: None)
    manifest = make_cohort(tmp_path / "cohort", 1)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["segment", str(manifest), "--backend", "nnunet", "--model", str(folder),
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "nnU-Net model weights are missing" in result.output
    assert not out.exists()


def test_nnunet_folder_without_dataset_json_is_refused(tmp_path):
    folder = _nnunet_folder(tmp_path, {"background": 0, "liver": 1})
    (folder / "dataset.json").unlink()
    with pytest.raises(InputFileError, match=r"dataset\.json missing"):
        make_backend("nnunet", model=folder).check()


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"labels": {"background": 0, "liver": 1, "tumor": 2}},
         {"liver": (1, 2), "lesions": (2,)}),
        ({"labels": {"background": 0, "liver": [1, 2], "tumour": 2},
          "regions_class_order": [1, 2]}, {"liver": (1, 2), "lesions": (2,)}),
        ({"labels": {"background": 0, "liver": 1, "metastasis": 2, "hemangioma": 3,
                     "rectal_cancer": 4, "liver_vessels": 5}},
         {"liver": (1, 2, 3), "lesions": (2, 3), "primary": (4,)}),
        ({"labels": {"background": 0, "spleen": 1}}, {}),
    ],
)  # fmt: skip
def test_nnunet_default_label_map(dataset, expected):
    assert default_label_map(dataset) == expected
