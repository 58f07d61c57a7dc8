"""The MONAI segmenter trains on a tiny cohort, beats trivial masks, and its masks lie on the
image grid; the segment CLI runs it, resumes, and QA's the result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.segment import register
from livermets.cohort import load_manifest
from livermets.io import Geometry, read_image, read_mask
from livermets.segment import dice
from tests.helpers import make_cohort

TRAIN_ARGS = [
    "--patch", "32,32,8", "--spacing", "1.6,1.6,2.5", "--filters", "8,16,32",
    "--iterations", "40", "--learning-rate", "0.01", "--threads", "1", "--seed", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def app():
    """A livermets app with only the segment group."""
    app = new_app("test")
    register(app)

    @app.command("version")
    def _version() -> None:
        """A second command, so that 'segment' stays a sub-command."""

    return app


def invoke(app, *args) -> tuple[int, str]:
    """Run the CLI in-process."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained(app, tmp_path_factory) -> tuple[Path, Path]:
    """(manifest, model folder) after `segment train` on a two-patient cohort."""
    root = tmp_path_factory.mktemp("monai")
    manifest = make_cohort(root / "cohort", 2)
    code, output = invoke(app, "segment", "train", manifest, "--out", root / "model",
                          *TRAIN_ARGS, "--json")  # fmt: skip
    assert code == 0, output
    return manifest, root / "model"


def test_training_writes_a_model_and_beats_trivial_masks(trained):
    from livermets.segment.monai_model import SegmenterModel

    manifest, folder = trained
    config = json.loads((folder / "model.json").read_text())
    assert config["classes"] == ["background", "liver", "lesion"]
    # --patch 32,32,8 is x,y,z like --spacing; the model stores arrays' (z, y, x) order
    assert config["settings"]["patch_size"] == [8, 32, 32]
    assert len(config["history"]["loss"]) == 40
    assert np.mean(config["history"]["loss"][-10:]) < np.mean(config["history"]["loss"][:10])
    model = SegmenterModel.load(folder)
    for row in load_manifest(manifest).rows():
        image = read_image(row.image)
        classes = sitk.GetArrayFromImage(model.predict(image))
        liver = sitk.GetArrayFromImage(read_mask(row.masks["liver_mask"])) > 0
        lesion = sitk.GetArrayFromImage(read_mask(row.masks["lesion_mask"])) > 0
        everything = np.ones_like(liver)
        assert dice(liver, classes >= 1) > max(0.8, dice(liver, everything))
        # trivial lesion masks: everything, or the whole liver
        assert dice(lesion, classes == 2) > max(dice(lesion, everything), dice(lesion, liver))


def test_inference_output_has_the_image_geometry_in_any_orientation(trained, tmp_path):
    from livermets.segment.monai_model import SegmenterModel

    manifest, folder = trained
    model = SegmenterModel.load(folder)
    row = load_manifest(manifest).rows()[0]
    image = read_image(row.image)
    flipped = sitk.DICOMOrient(image, "RAI")  # x and y flipped: another direction matrix
    assert Geometry.of(flipped).direction != Geometry.of(image).direction
    for img in (image, flipped):
        pred = model.predict(img)
        assert Geometry.of(pred) == Geometry.of(img)
    # the same anatomy is found in both: map the flipped prediction back by physical position
    back = sitk.Resample(model.predict(flipped), image, sitk.Transform(), sitk.sitkNearestNeighbor)
    same = sitk.GetArrayFromImage(model.predict(image))
    assert dice(same >= 1, sitk.GetArrayFromImage(back) >= 1) > 0.98


def test_segment_cli_runs_resumes_and_qa(app, trained, tmp_path):
    manifest, folder = trained
    out = tmp_path / "pred"
    code, output = invoke(app, "segment", manifest, "--backend", "monai", "--model", folder,
                          "--out", out, "--json")  # fmt: skip
    assert code == 0, output
    assert json.loads(output)["segmented"] == 2
    table = pd.read_csv(out / "manifest.csv", dtype={"patient_id": str})
    assert list(table["lesion_mask"]) == ["masks/p1/lesions.nii.gz", "masks/p2/lesions.nii.gz"]
    assert table["lesion_labels"].isna().all()  # one lesion class: no lesion-label files
    for row in load_manifest(out / "manifest.csv").rows():
        image = read_image(row.image)
        for path in row.masks.values():
            assert Geometry.of(sitk.ReadImage(str(path))) == Geometry.of(image)
    # a second run resumes every patient; one deleted mask is redone
    (out / "masks" / "p2" / "lesions.nii.gz").unlink()
    code, output = invoke(app, "segment", "run", manifest, "--backend", "monai", "--model",
                          folder, "--out", out, "--json")  # fmt: skip
    assert code == 0, output
    assert (json.loads(output)["resumed"], json.loads(output)["segmented"]) == (1, 1)
    # another post-processing setting is another run: refused without --overwrite
    code, output = invoke(app, "segment", manifest, "--backend", "monai", "--model", folder,
                          "--out", out, "--min-lesion-ml", "1")  # fmt: skip
    assert code == 2 and "--overwrite" in output
    qa_out = tmp_path / "qa"
    code, output = invoke(app, "segment", "qa", "--reference", manifest, "--predicted", out,
                          "--out", qa_out, "--report", "--json")  # fmt: skip
    assert code == 0, output
    summary = json.loads(output)
    liver = next(s for s in summary["structures"] if s["structure"] == "liver")
    assert liver["n_patients"] == 2 and liver["dice_mean"] > 0.8
    structures = pd.read_csv(qa_out / "qa_structures.csv")
    assert structures["dice"].between(0, 1).all()
    html = (qa_out / "report.html").read_text()
    assert "Segmentation quality" in html and "Sensitivity (95% CI)" in html
    assert (qa_out / "figures" / "segmentation_dice_vs_diameter.png").stat().st_size > 1000


def test_multiclass_lesion_model_writes_lesion_labels(app, tmp_path):
    manifest = make_cohort(tmp_path / "cohort", 1)
    args = [a if a != "40" else "4" for a in TRAIN_ARGS]
    code, output = invoke(app, "segment", "train", manifest, "--out", tmp_path / "model",
                          *args, "--lesion-classes", "labels")  # fmt: skip
    assert code == 0, output
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    assert config["classes"] == ["background", "liver", "hemangioma", "metastasis"]
    code, output = invoke(app, "segment", manifest, "--backend", "monai", "--model",
                          tmp_path / "model", "--out", tmp_path / "pred")  # fmt: skip
    assert code == 0, output
    labels = pd.read_csv(tmp_path / "pred" / "masks" / "p1" / "lesion_labels.csv")
    assert labels.to_dict(orient="list") == {
        "lesion_label": [1, 2], "label": ["hemangioma", "metastasis"]
    }  # fmt: skip
    table = pd.read_csv(tmp_path / "pred" / "manifest.csv")
    assert table.loc[0, "lesion_labels"] == "masks/p1/lesion_labels.csv"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "nope"], "unknown segmentation backend"),
        (["--backend", "monai"], "needs --model DIR"),
        (["--backend", "monai", "--model", "{tmp}/absent"], "is not a livermets segmenter"),
    ],
)
def test_segment_cli_errors_write_nothing(app, tmp_path, args, message):
    manifest = make_cohort(tmp_path / "cohort", 1)
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, output = invoke(app, "segment", manifest, *args, "--out", out)
    assert code == 2
    assert message in " ".join(output.split())
    assert not out.exists()


def test_train_cli_rejects_bad_settings(app, tmp_path):
    manifest = make_cohort(tmp_path / "cohort", 1)
    code, output = invoke(app, "segment", "train", manifest, "--out", tmp_path / "m",
                          "--network", "unet", "--patch", "32,32,10", "--filters", "8,16,32",
                          "--iterations", "1")  # fmt: skip
    assert code == 2 and "divisible by 4" in output
    assert "(32, 32, 10) (x, y, z)" in " ".join(output.split())  # the order the user typed
    assert not (tmp_path / "m").exists()


def test_segment_cli_writes_dicom_seg_for_dicom_images(app, trained, tmp_path):
    import highdicom as hd

    from livermets import __version__
    from livermets.io import read_series_headers
    from tests.helpers import write_dicom_copy

    manifest, folder = trained
    table = pd.read_csv(manifest)
    for i, pid in enumerate(table["patient_id"]):
        ct = sitk.ReadImage(str(manifest.parent / pid / "ct.nii.gz"))
        write_dicom_copy(ct, tmp_path / "dicom" / pid)
        table.loc[i, "image"] = str(tmp_path / "dicom" / pid)
        for column in ("lesion_mask", "liver_mask", "lesion_labels"):
            table.loc[i, column] = str(manifest.parent / table.loc[i, column])
    table.to_csv(tmp_path / "dicom.csv", index=False)
    out = tmp_path / "pred"
    args = ["--backend", "monai", "--model", folder, "--out", out, "--dicom-seg", "--json"]
    code, output = invoke(app, "segment", tmp_path / "dicom.csv", *args)
    assert code == 0, output
    assert json.loads(output)["dicom_seg"] == 2
    summary = pd.read_csv(out / "segmentation.csv")
    assert summary["dicom_seg"].tolist() == ["masks/p1/p1_seg.dcm", "masks/p2/p2_seg.dcm"]
    for pid in ("p1", "p2"):
        seg = hd.seg.segread(out / "masks" / pid / f"{pid}_seg.dcm")
        assert [s.SegmentLabel for s in seg.SegmentSequence] == ["liver", "lesion"]
        assert {s.SegmentAlgorithmType for s in seg.SegmentSequence} == {"AUTOMATIC"}
        algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
        assert algorithm.AlgorithmName == "livermets segment monai"
        assert algorithm.AlgorithmVersion == __version__
        headers = read_series_headers(tmp_path / "dicom" / pid)
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == headers[0].SeriesInstanceUID
        pixels = seg.get_pixels_by_source_instance(
            [h.SOPInstanceUID for h in headers], segment_numbers=[1, 2]
        )
        liver = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "masks" / pid / "liver.nii.gz")))
        lesions = sitk.ReadImage(str(out / "masks" / pid / "lesions.nii.gz"))
        np.testing.assert_array_equal(pixels[..., 0], liver)
        np.testing.assert_array_equal(pixels[..., 1], sitk.GetArrayFromImage(lesions) > 0)
        assert liver.sum() > 1000
    # resumed patients keep their DICOM-SEG; a deleted one is written again from the masks
    kept = (out / "masks" / "p1" / "p1_seg.dcm").stat().st_mtime_ns
    (out / "masks" / "p2" / "p2_seg.dcm").unlink()
    code, output = invoke(app, "segment", tmp_path / "dicom.csv", *args)
    assert code == 0, output
    assert (json.loads(output)["resumed"], json.loads(output)["dicom_seg"]) == (2, 2)
    assert (out / "masks" / "p1" / "p1_seg.dcm").stat().st_mtime_ns == kept
    assert (out / "masks" / "p2" / "p2_seg.dcm").is_file()


def test_segment_dicom_seg_refuses_nifti_images_before_any_work(app, trained, tmp_path):
    manifest, folder = trained
    out = tmp_path / "pred"
    code, output = invoke(app, "segment", manifest, "--backend", "monai", "--model", folder,
                          "--out", out, "--dicom-seg")  # fmt: skip
    assert code == 2
    text = " ".join(output.split())
    assert "are not DICOM series" in text and "(p1, p2)" in text and "Traceback" not in text
    assert not out.exists()
