"""The synthetic manifest's split column: counts per split and class, patients, seeds, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.synth import register
from livermets.errors import ConfigError
from livermets.synth.splits import assign_splits, parse_holdout, parse_split

app = new_app("test app")
register(app)


@app.command("noop", hidden=True)
def _noop() -> None:
    """Keep the app a group so ``synth`` is addressed by name."""


def cohort(n_a: int = 20, n_b: int = 20) -> pd.DataFrame:
    """Patients with a label, class a first then class b."""
    labels = ["crc"] * n_a + ["pdac"] * n_b
    return pd.DataFrame({"patient_id": [f"P{i:04d}" for i in range(n_a + n_b)],
                         "label": labels})


def table(patients: pd.DataFrame, split: pd.Series) -> dict[tuple[str, str], int]:
    """(split, class) -> patients."""
    return patients.assign(split=split).groupby(["split", "label"]).size().to_dict()


def test_fractions_per_class():
    patients = cohort(20, 10)
    split = assign_splits(patients, parse_split("train=0.6,validation=0.2,test=0.2"), 0)
    assert table(patients, split) == {
        ("train", "crc"): 12, ("validation", "crc"): 4, ("test", "crc"): 4,
        ("train", "pdac"): 6, ("validation", "pdac"): 2, ("test", "pdac"): 2,
    }


def test_largest_remainders_then_order_given():
    patients = cohort(7, 7)  # 7 x (0.6, 0.2, 0.2) = 4.2, 1.4, 1.4: one extra to validation
    split = assign_splits(patients, parse_split("train=0.6,validation=0.2,test=0.2"), 3)
    assert table(patients, split)[("validation", "crc")] == 2
    assert table(patients, split)[("test", "crc")] == 1
    assert table(patients, split)[("train", "pdac")] == 4


def test_holdout_4_plus_4_and_per_class_counts():
    patients = cohort(22, 18)
    split = assign_splits(patients, parse_holdout("4+4"), 0)
    assert table(patients, split) == {("test", "crc"): 4, ("test", "pdac"): 4,
                                      ("train", "crc"): 18, ("train", "pdac"): 14}
    split = assign_splits(patients, parse_split("validation=4,test=2+3"), 0)
    assert table(patients, split) == {
        ("test", "crc"): 2, ("test", "pdac"): 3, ("validation", "crc"): 4,
        ("validation", "pdac"): 4, ("train", "crc"): 16, ("train", "pdac"): 11}


def test_same_seed_same_split_other_seed_other_split():
    patients = cohort()
    spec = parse_split("train=0.5,validation=0.25,test=0.25")
    first = assign_splits(patients, spec, 7)
    assert first.equals(assign_splits(patients, spec, 7))
    assert not first.equals(assign_splits(patients, spec, 8))
    assert table(patients, first) == table(patients, assign_splits(patients, spec, 8))


@pytest.mark.parametrize(("text", "message"), [
    ("train=0.6,test=0.3", "sum to 1"),
    ("train=0.6,test=4", "all fractions \\(0.2\\) or all patient counts"),
    ("train=4,test=4", "do not give train a count"),
    ("test", "is not NAME=VALUE"),
    ("test=0.5,test=0.5", "given twice"),
])
def test_bad_split_texts(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_split(text)


def test_counts_that_leave_no_training_patient_or_an_empty_split():
    with pytest.raises(ConfigError, match="leaves none for train"):
        assign_splits(cohort(5, 5), parse_holdout("5+1"), 0)
    with pytest.raises(ConfigError, match="one count per class"):
        assign_splits(cohort(5, 5), parse_holdout("1+1+1"), 0)
    with pytest.raises(ConfigError, match=r"\['test'\] get no patient"):
        assign_splits(cohort(2, 2), parse_split("train=0.9,test=0.1"), 0)


def test_synth_cli_writes_the_split_column(tmp_path: Path):
    out = tmp_path / "c"
    args = ["synth", "--out", str(out), "--task", "crc-vs-pdac", "--patients", "8", "--seed",
            "3", "--scale", "3", "--workers", "1", "--json"]
    result = CliRunner().invoke(app, [*args, "--holdout", "1+1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["split"] == "test=1+1"
    manifest = pd.read_csv(out / "manifest.csv")
    counts = manifest.groupby(["split", "label"]).size()
    assert counts.loc["test"].tolist() == [1, 1]
    assert counts.loc["train"].sum() == 6
    assert manifest["patient_id"].is_unique  # one row, so one split, per patient
    patients = pd.read_csv(out / "truth_patients.csv")
    assert patients.set_index("patient_id")["split"].equals(
        manifest.set_index("patient_id")["split"])
    both = CliRunner().invoke(app, [*args, "--holdout", "1+1", "--split", "test=1"])
    assert both.exit_code == 2 and "not both" in both.output
