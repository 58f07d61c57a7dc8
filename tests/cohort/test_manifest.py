"""Manifest rows no stage can use are refused once, by ``load_manifest``, for every command."""

from __future__ import annotations

import pandas as pd
import pytest

from livermets.cohort import load_manifest
from livermets.cohort.manifest import is_image_column
from livermets.errors import ManifestError


def _edit(manifest, column, values):
    table = pd.read_csv(manifest, dtype={"patient_id": str})
    table[column] = values
    table.to_csv(manifest, index=False)


def test_blank_patient_id_is_refused_with_its_line(cohort):
    _edit(cohort, "patient_id", ["p1", "   "])
    with pytest.raises(ManifestError, match=r"line\(s\) 3 have no patient_id"):
        load_manifest(cohort)


@pytest.mark.parametrize("command", [
    ("validate",), ("lesions", "--out", "{tmp}/l.parquet"),
    ("features", "--params", "{params}", "--out", "{tmp}/f.parquet"),
    ("report", "cohort", "--out", "{tmp}/rep"),
])
def test_every_command_refuses_a_blank_id(cli, cohort, tmp_path, command):
    _edit(cohort, "patient_id", ["", "p2"])
    params = tmp_path / "p.yaml"
    params.write_text("regions: {lesion: true}\n")
    name, *rest = command
    args = [a.format(tmp=tmp_path, params=params) for a in rest]
    if name == "report":
        code, output = cli("report", "cohort", cohort, *args[1:])
    else:
        code, output = cli(name, cohort, *args)
    assert code == 2, output
    assert "line(s) 2 have no patient_id" in output and "Traceback" not in output
    assert not list(tmp_path.glob("l*.parquet")) and not list(tmp_path.glob("f*.parquet"))


def test_unknown_modality_is_refused_with_allowed_values(cli, cohort, tmp_path):
    _edit(cohort, "modality", ["CT", "PET"])
    code, output = cli("lesions", cohort, "--out", tmp_path / "l.csv")
    assert code == 2
    assert "modality ['PET'] on line(s) 3 is not one of CT, MR" in output
    assert not (tmp_path / "l.csv").exists()


def test_known_modalities_any_case_and_blank(cohort):
    _edit(cohort, "modality", ["mr", None])
    rows = load_manifest(cohort).rows()
    assert [r.modality for r in rows] == ["MR", "CT"]


def test_feature_table_provenance_is_not_an_image_column():
    assert is_image_column("image") and is_image_column("image_venous")
    assert not is_image_column("image_hash")
