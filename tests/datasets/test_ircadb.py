"""3D-IRCADb-01 conversion and lesion measurements on the real data in ../shared/data/ircadb."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from livermets.cli.main import app
from livermets.cohort import load_manifest, validate_cohort
from livermets.datasets import lesion_category
from livermets.io import read_image
from livermets.lesions import LesionSettings, build_lesion_tables
from tests.helpers import SHARED_DATA

IRCADB = SHARED_DATA / "ircadb"
PATIENTS = "1,6,7,13,17,19"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ircadb")
    result = CliRunner().invoke(
        app, ["datasets", "ircadb", str(IRCADB), "--out", str(out), "--patients", PATIENTS,
              "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["manifest"] == str(out / "manifest.csv") and summary["patients"] == 6
    return out / "manifest.csv"


@pytest.fixture(scope="module")
def lesions_unfiltered(converted):
    table, patients = build_lesion_tables(
        load_manifest(converted), LesionSettings(min_diameter_mm=0)
    )
    return table, patients


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("livertumor01", "tumour"),
        ("livertumor1", "tumour"),
        ("livertumors", "tumour"),
        ("liverkyst", "cyst"),
        ("liverkyste", "cyst"),
        ("livercyst", "cyst"),
        ("metastasectomie", "resection_bed"),
        ("tumor", "tumour"),
        ("leftsurretumor", "tumour"),
        ("liver", None),
        ("portalvein1", None),
        ("gallbladder", None),
        ("Stones", None),
    ],
)
def test_structure_categories(name, category):
    assert lesion_category(name) == category


def test_manifest_flags_masks_only_patients_and_validates(converted):
    manifest = pd.read_csv(converted)
    assert manifest["patient_id"].tolist() == [
        "ircadb01",
        "ircadb06",
        "ircadb07",
        "ircadb13",
        "ircadb17",
        "ircadb19",
    ]
    assert manifest["has_ct"].tolist() == [1, 0, 1, 0, 1, 0]
    assert manifest["lesion_mask"].isna().tolist() == [False, False, True, False, False, False]
    report = validate_cohort(load_manifest(converted))
    assert report.ok, report.errors
    assert {p.patient_id for p in report.problems if p.code == "no_image"} == {
        "ircadb06",
        "ircadb13",
        "ircadb19",
    }


def test_patient_7_tumour_is_outside_the_liver(converted):
    structures = pd.read_csv(converted.parent / "structures.csv")
    row = structures[structures["patient_id"] == "ircadb07"].iloc[0]
    assert row["structure"] == "tumor" and row["status"] == "excluded: outside the liver"
    assert row["fraction_in_liver"] < 0.001


def test_patient_1_lesion_volumes(lesions_unfiltered):
    table, _ = lesions_unfiltered
    p1 = table[table["patient_id"] == "ircadb01"]
    assert p1["label"].value_counts().to_dict() == {"tumour": 7, "cyst": 1}
    tumours = p1[p1["label"] == "tumour"]["volume_ml"].to_numpy()
    np.testing.assert_allclose(tumours, [84.4, 7.5, 3.7, 2.5, 10.1, 0.4, 2.7], rtol=0.02)


def test_component_counts_before_filtering(lesions_unfiltered):
    table, patients = lesions_unfiltered
    tumours = table[table["label"] == "tumour"].groupby("patient_id").size().to_dict()
    assert {k: tumours[k] for k in ("ircadb06", "ircadb13", "ircadb19")} == {
        "ircadb06": 15,
        "ircadb13": 17,
        "ircadb19": 48,
    }
    p7 = patients.set_index("patient_id").loc["ircadb07"]
    assert p7["n_lesions"] == 0 and p7["liver_volume_ml"] > 1000


def test_size_filter_and_patient_17(converted, tmp_path):
    out = tmp_path / "lesions.parquet"
    result = CliRunner().invoke(app, ["lesions", str(converted), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    table = pd.read_parquet(out)
    assert summary["n_lesions"] == len(table) and summary["n_excluded_small"] > 0
    assert (table["diameter_mm"] >= 5).all()
    p17 = table[table["patient_id"] == "ircadb17"]
    np.testing.assert_allclose(p17["volume_ml"], [85.64, 78.64], rtol=0.01)
    assert p17["size_group"].tolist() == [">30 mm", ">30 mm"]
    assert p17["fraction_in_liver"].tolist() == [1.0, 1.0]


def test_dicom_zip_equals_written_nifti(converted):
    zipped = read_image(IRCADB / "3Dircadb1.17" / "PATIENT_DICOM.zip")
    nifti = read_image(converted.parent / "ircadb17" / "image.nii.gz")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(zipped), sitk.GetArrayFromImage(nifti))
    assert nifti.GetSpacing() == pytest.approx(zipped.GetSpacing())
    assert nifti.GetOrigin() == pytest.approx(zipped.GetOrigin())


def test_bad_source_exits_2(tmp_path):
    result = CliRunner().invoke(
        app, ["datasets", "ircadb", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "3Dircadb1.N" in result.output
    assert not (tmp_path / "o").exists()
