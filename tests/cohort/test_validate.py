"""``livermets validate``: every kind of bad input is found, reported, and exits 1."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk


def _edit_table(manifest, edit):
    table = pd.read_csv(manifest, dtype={"patient_id": str})
    edit(table)
    table.to_csv(manifest, index=False)


def _rewrite_image(manifest, name, change):
    path = manifest.parent / "p1" / name
    image = sitk.ReadImage(str(path))
    array = change(sitk.GetArrayFromImage(image))
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(path))


def missing_file(m):
    (m.parent / "p1" / "liver.nii.gz").unlink()


def unreadable_file(m):
    (m.parent / "p1" / "ct.nii.gz").write_bytes(b"not an image at all")


def geometry_mismatch(m):
    mask = sitk.ReadImage(str(m.parent / "p1" / "lesions.nii.gz"))
    mask.SetSpacing((0.8, 0.8, 5.0))
    sitk.WriteImage(mask, str(m.parent / "p1" / "lesions.nii.gz"))


def empty_mask(m):
    _rewrite_image(m, "liver.nii.gz", lambda a: np.zeros_like(a))


def lesion_outside_liver(m):
    def move(a):
        a = a.copy()
        a[6, 5:9, 55:59] = 3  # a new lesion in the body wall, outside the liver
        return a

    _rewrite_image(m, "lesions.nii.gz", move)
    labels = m.parent / "p1" / "lesion_labels.csv"
    table = pd.read_csv(labels)
    table.loc[len(table)] = [3, "metastasis"]
    table.to_csv(labels, index=False)


def unknown_lesion_class(m):
    pd.DataFrame({"lesion_label": [1, 2], "label": ["metastasis", "haemangioma"]}).to_csv(
        m.parent / "p1" / "lesion_labels.csv", index=False
    )


def unknown_label(m):
    _edit_table(m, lambda t: t.__setitem__("label", [1, 2]))


def duplicate_ids(m):
    _edit_table(m, lambda t: t.__setitem__("patient_id", ["p1", "p1"]))


def non_numeric_clinical(m):
    rows = pd.read_csv(m, dtype={"patient_id": str})
    extra = rows.iloc[[0, 0, 0]].assign(patient_id=["p3", "p4", "p5"])
    table = pd.concat([rows, extra], ignore_index=True)
    table["cea"] = ["4.1", "12,5", "3.0", "7.7", "2.2"]
    table.to_csv(m, index=False)


def implausible_hu(m):
    _rewrite_image(m, "ct.nii.gz", lambda a: (a.astype(np.int32) + 1024).astype(np.int16))


CASES = [
    (missing_file, "missing_file", "p1", "does not exist"),
    (unreadable_file, "unreadable", "p1", "cannot read image"),
    (geometry_mismatch, "geometry_mismatch", "p1", "(0.8, 0.8, 5)"),
    (empty_mask, "empty_mask", "p1", "is empty"),
    (lesion_outside_liver, "outside_liver", "p1", "lies outside the liver mask (0% inside)"),
    (unknown_lesion_class, "unknown_label", "p1", "class 'haemangioma'"),
    (unknown_label, "unknown_label", "p2", "numeric label 2 is not 0 or 1"),
    (duplicate_ids, "duplicate_id", "p1", "appears 2 times"),
    (non_numeric_clinical, "non_numeric", "p2", "cea = '12,5' is not a number"),
    (implausible_hu, "implausible_hu", "p1", "do not look like HU"),
]


def test_clean_cohort_passes(cli, cohort):
    code, output = cli("validate", cohort, "--json")
    assert code == 0
    report = json.loads(output)
    assert report["ok"] and report["n_patients"] == 2 and report["problems"] == []


@pytest.mark.parametrize(
    ("damage", "code", "patient", "fragment"),
    CASES,
    ids=[c[1] + "-" + c[0].__name__ for c in CASES],
)
def test_each_problem_is_reported(cli, cohort, damage, code, patient, fragment):
    damage(cohort)
    before = sorted(p.name for p in cohort.parent.rglob("*"))
    exit_code, output = cli("validate", cohort, "--json")
    assert exit_code == 1
    problems = json.loads(output)["problems"]
    found = [p for p in problems if p["code"] == code and p["severity"] == "error"]
    assert found, problems
    assert found[0]["patient_id"] == patient
    assert fragment in found[0]["message"]
    assert sorted(p.name for p in cohort.parent.rglob("*")) == before  # nothing written


def test_all_problems_are_reported_at_once(cli, cohort):
    missing_file(cohort)
    unknown_label(cohort)
    duplicate_ids(cohort)
    exit_code, output = cli("validate", cohort, "--json")
    codes = {p["code"] for p in json.loads(output)["problems"]}
    assert exit_code == 1 and {"missing_file", "unknown_label", "duplicate_id"} <= codes


def test_table_output_lists_problems(cli, cohort):
    duplicate_ids(cohort)
    exit_code, output = cli("validate", cohort)
    assert exit_code == 1 and "duplicate_id" in output and "FAILED" in output


def test_resample_masks_turns_mismatch_into_warning(cli, cohort):
    geometry_mismatch(cohort)
    exit_code, output = cli("validate", cohort, "--json", "--resample-masks")
    report = json.loads(output)
    assert exit_code == 0
    assert [p["code"] for p in report["problems"]] == ["resampled"]


def test_declared_labels(cli, cohort):
    exit_code, output = cli("validate", cohort, "--json", "--labels", "metastasis")
    problems = json.loads(output)["problems"]
    assert exit_code == 1
    assert {p["message"].split(" of lesion")[0] for p in problems} == {"class 'hemangioma'"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "does not exist"),
        ("image,label\na.nii.gz,1\n", "no 'patient_id' column"),
        ("patient_id,image\n", "has no rows"),
    ],
)
def test_unusable_manifest_exits_2(cli, tmp_path, content, fragment):
    path = tmp_path / "m.csv"
    if content is not None:
        path.write_text(content)
    exit_code, output = cli("validate", path)
    assert exit_code == 2
    assert fragment in output and "Traceback" not in output
