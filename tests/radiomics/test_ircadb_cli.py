"""Real CT: IRCADb patients 1 and 17 against the stored baseline, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from livermets.datasets import convert_ircadb
from tests.helpers import SHARED_DATA
from tests.radiomics.conftest import write_cohort

BASELINE = Path(__file__).parent / "baselines" / "ircadb_p1_p17_lesions.csv"


@pytest.fixture(scope="module")
def ircadb(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ircadb")
    return convert_ircadb(SHARED_DATA / "ircadb", out, patients=[1, 17])


def test_ircadb_lesions_match_the_baseline(ircadb, tmp_path, features_cli):
    params = tmp_path / "p.yaml"
    params.write_text("preset: pyradiomics-default\n")
    out = tmp_path / "features.parquet"
    code, output = features_cli(ircadb, "--params", params, "--out", out, "--workers", 2,
                                "--json")  # fmt: skip
    assert code == 0, output
    summary = json.loads(output)
    assert (summary["rows"], summary["regions_computed"], summary["errors"]) == (10, 10, 0)
    got = pd.read_parquet(out)
    expected = pd.read_csv(BASELINE)
    assert list(got["label"]) == list(expected["label"])
    assert got["lesion_id"].tolist() == expected["lesion_id"].tolist()
    features = [c for c in expected.columns if c.startswith("original_")]
    assert len(features) == 107
    pd.testing.assert_frame_equal(
        got[["volume_ml", "diameter_mm", *features]].reset_index(drop=True),
        expected[["volume_ml", "diameter_mm", *features]],
        rtol=1e-6,
        atol=1e-9,
        check_dtype=False,
    )
    # a second run reads every lesion from the cache
    code, output = features_cli(ircadb, "--params", params, "--out", out, "--json")
    assert json.loads(output)["regions_cached"] == 10


def test_cli_patient_level_and_errors(tmp_path, features_cli):
    manifest = write_cohort(tmp_path / "c", 2)
    params = tmp_path / "p.yaml"
    params.write_text("regions: {lesion: true, ring_mm: [3]}\naggregation: max\n")
    out = tmp_path / "f.csv"
    code, output = features_cli(manifest, "--params", params, "--out", out, "--level", "patient",
                                "--workers", 1, "--no-cache")  # fmt: skip
    assert code == 0, output
    table = pd.read_csv(out)
    assert table["patient_id"].tolist() == ["p1", "p2"]
    assert "ring3mm_original_glcm_Contrast" in table and "lesion_original_shape_MeshVolume" in table
    assert not (tmp_path / "f.cache").exists()
    assert pd.read_csv(tmp_path / "f_errors.csv").empty


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "slice"], "--level must be 'lesion' or 'patient'"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--out", "features.xlsx"], "use a .parquet or .csv"),
        (["--scheduler", "tcp://127.0.0.1:9"], "cannot connect to the Dask scheduler"),
    ],
)
def test_cli_user_errors(tmp_path, features_cli, args, message):
    manifest = write_cohort(tmp_path / "c", 1)
    params = tmp_path / "p.yaml"
    params.write_text("regions: {lesion: true}\n")
    base = {"--out": str(tmp_path / "f.parquet")}
    if "--out" in args:
        base["--out"] = str(tmp_path / args[args.index("--out") + 1])
        args = [a for i, a in enumerate(args) if i not in (args.index("--out"),
                                                           args.index("--out") + 1)]  # fmt: skip
    code, output = features_cli(manifest, "--params", params, "--out", base["--out"], *args)
    assert code == 2
    assert message in " ".join(output.split())


def test_cli_bad_params_file(tmp_path, features_cli):
    manifest = write_cohort(tmp_path / "c", 1)
    params = tmp_path / "p.yaml"
    params.write_text("extraction: {binwidth: 25}\n")
    code, output = features_cli(manifest, "--params", params, "--out", tmp_path / "f.parquet")
    assert code == 2
    assert "extraction.binwidth" in output and "Extra inputs are not permitted" in output
