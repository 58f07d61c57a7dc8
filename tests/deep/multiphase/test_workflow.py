"""The multi-phase workflow and `livermets deep multiphase` on a tiny synthetic cohort."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from livermets.cohort import load_manifest
from livermets.deep.multiphase.workflow import split_patients
from livermets.errors import ConfigError, DataError
from livermets.synth import generate_cohort, make_config

# coarse grid and a tiny network: a run takes seconds
TINY = {"spacing_mm": [6.0, 6.0, 10.0], "patch": [16, 16, 8], "features": [4, 8],
        "stem_channels": 4, "embedding_size": 8, "iterations": 3, "batch_size": 2,
        "threads": 1, "min_lesion_voxels": 1}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp")
    made = generate_cohort(make_config("multiphase-multiclass", 8, 3, 2, scale=3.0),
                           root / "cohort", workers=1)
    settings = root / "tiny.yaml"
    settings.write_text(yaml.safe_dump(TINY))
    return made.manifest, settings


def test_split_holds_out_external_centre_and_a_fraction(cohort):
    manifest = load_manifest(cohort[0])
    centres = manifest.table.set_index("patient_id")["center"].astype(str)
    split = split_patients(manifest, ["B"], 0.25, seed=0)
    assert sorted(split.external) == sorted(centres.index[centres == "B"])
    n_dev = int((centres == "A").sum())
    assert len(split.internal) == max(1, round(n_dev * 0.25))
    assert set(split.train) | set(split.internal) == set(centres.index[centres == "A"])
    assert not set(split.train) & set(split.internal)
    assert split_patients(manifest, ["B"], 0.25, seed=0) == split  # seeded


def test_split_errors_name_the_fix(cohort):
    manifest = load_manifest(cohort[0])
    with pytest.raises(ConfigError, match="external centres \\['C'\\] are not in the cohort"):
        split_patients(manifest, ["C"], 0.25, seed=0)
    with pytest.raises(DataError, match="only 0 training patient"):
        split_patients(manifest, ["A", "B"], 0.25, seed=0)
    # a large fraction still leaves two training patients
    assert len(split_patients(manifest, ["B"], 0.99, seed=0).train) == 2


def test_run_evaluate_predict_from_the_command_line(cli, cohort, tmp_path):
    manifest, settings = cohort
    out = tmp_path / "run"
    code, output = cli("deep", "multiphase", "run", str(manifest), "--out", str(out),
                       "--settings", str(settings), "--external-centre", "B", "--synthetic",
                       "--json")
    assert code == 0, output
    summary = json.loads(output[output.index("{"):])["summary"]
    scenarios = {(r["cohort"], r["scenario"]) for r in summary}
    assert scenarios == {("internal", "all phases"), ("internal", "without delayed"),
                         ("external", "all phases"), ("external", "without delayed")}
    for row in summary:
        assert 0.0 <= row["liver_dice"] <= 1.0
        assert row["n_patients"] >= 1
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 4
    patients = pd.read_csv(out / "predictions" / "external-all" / "patients.csv")
    assert set(patients["rule"]) == {"max_in_liver", "volume", "patient_head"}
    class_auc = pd.read_csv(out / "predictions" / "external-all" / "class_auc.csv")
    assert len(class_auc) == 3 * 8  # rules x classes, estimable or with a reason
    html = (out / "report.html").read_text()
    assert "AUC-8" in html and "synthetic" in html.lower()
    assert (out / "model" / "model.pt").is_file()

    # a frozen model on new patients: masks on the image grid and patient probabilities
    pred = tmp_path / "pred"
    code, output = cli("deep", "multiphase", "predict", str(out / "model"), str(manifest),
                       "--out", str(pred), "--drop-phase", "delayed", "--json")
    assert code == 0, output
    first = load_manifest(manifest).rows()[0]
    import SimpleITK as sitk

    labels = sitk.ReadImage(str(pred / first.patient_id / "labels.nii.gz"))
    image = sitk.ReadImage(str(first.images["image_venous"]))
    assert labels.GetSize() == image.GetSize()
    assert labels.GetSpacing() == pytest.approx(image.GetSpacing())

    evaluated = tmp_path / "eval"
    code, output = cli("deep", "multiphase", "evaluate", str(out / "model"), str(manifest),
                       "--out", str(evaluated), "--json")
    assert code == 0, output
    rows = json.loads(output[output.index("{"):])["summary"]
    assert {r["centre"] for r in rows} == {"A", "B"}
    assert (evaluated / "report.html").is_file()


def test_bad_settings_exit_2_with_the_allowed_keys(cli, cohort, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spacing: [2, 2, 2]\n")
    code, output = cli("deep", "multiphase", "train", str(cohort[0]), "--out",
                       str(tmp_path / "m"), "--settings", str(bad))
    assert code == 2
    assert "spacing_mm" in output and "Traceback" not in output


def test_study_with_only_a_multiphase_section(cohort, tmp_path):
    from livermets.pipeline import run_study
    from livermets.study import config_from_dict

    config = config_from_dict({
        "name": "mp", "synthetic": True, "seed": 1, "models": [],
        "data": {"manifest": str(cohort[0]), "level": "lesion"},
        "validation": {"design": "external", "test_centres": ["B"], "bootstrap": 200},
        "multiphase": {"settings": TINY, "test_fraction": 0.25},
    })
    result = run_study(config, tmp_path / "study")
    metrics = json.loads((tmp_path / "study" / "metrics.json").read_text())
    rows = metrics["multiphase"]["summary"]
    assert {(r["cohort"], r["scenario"]) for r in rows} == {
        ("internal", "all phases"), ("internal", "without delayed"),
        ("external", "all phases"), ("external", "without delayed")}
    assert metrics["multiphase"]["external_patients"] == len(result.multiphase.split.external)
    html = result.report_path.read_text()
    assert "Multi-phase lesion network" in html and "AUC-8" in html

    # drawn again from the folder's saved tables (no network loaded): the same report
    import re

    from livermets.deep.multiphase.workflow import load_workflow_result
    from livermets.report.study import write_study_report
    from livermets.study.load import load_study

    loaded = load_workflow_result(tmp_path / "study" / "multiphase")
    pd.testing.assert_frame_equal(loaded.summary(), result.multiphase.summary())
    assert loaded.split == result.multiphase.split
    again = write_study_report(load_study(tmp_path / "study"), tmp_path / "again" / "report.html")

    def text(page: str) -> str:
        page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "", page)

    assert text(again.read_text()) == text(html)


def test_template_validates_with_its_multiphase_section():
    from importlib.resources import files

    from livermets.study import load_config

    path = files("livermets") / "templates" / "multiphase_liver_tumours.yaml"
    config = load_config(str(path))
    assert config.multiphase is not None
    assert config.multiphase.settings["features"] == [8, 16, 32]
    assert config.validation.test_centres == ["B"]
