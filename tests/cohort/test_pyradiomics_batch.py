"""pyradiomics' batch CSV (ID,Image,Mask[,Label]) read as a cohort manifest."""

from __future__ import annotations

import pandas as pd
import pytest

from livermets.cohort import load_manifest, validate_cohort
from livermets.errors import ManifestError


def write_batch(cohort, folder, **extra) -> object:
    """A pyradiomics batch CSV in ``folder`` for the cohort, paths relative to the CSV."""
    table = pd.read_csv(cohort, dtype={"patient_id": str})
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "../cohort/"
    batch = pd.DataFrame({
        "ID": table["patient_id"],
        "Image": prefix + table["image"],
        "Mask": prefix + table["lesion_mask"],
        **extra,
    })  # fmt: skip
    path = folder / "batch.csv"
    batch.to_csv(path, index=False)
    return path


def test_batch_columns_map_to_the_manifest(cohort, tmp_path):
    path = write_batch(cohort, tmp_path / "batch", age=[61, 72], Label=[2, None])
    manifest = load_manifest(path)
    rows = manifest.rows()
    assert [r.patient_id for r in rows] == ["p1", "p2"]
    assert rows[0].image.resolve() == (tmp_path / "cohort" / "p1" / "ct.nii.gz").resolve()
    assert rows[0].image.is_file() and rows[1].masks["lesion_mask"].is_file()
    assert set(rows[0].masks) == {"lesion_mask"}
    assert [r.lesion_mask_label for r in rows] == [2, None]
    assert [r.clinical["age"] for r in rows] == [61, 72]
    assert rows[0].label is None  # pyradiomics' Label is a mask value, not the outcome
    assert validate_cohort(manifest).ok


def test_ids_are_kept_as_text_and_filled_in_when_absent(cohort, tmp_path):
    path = write_batch(cohort, tmp_path / "batch")
    table = pd.read_csv(path, dtype=str)
    table["ID"] = ["007", "010"]
    table.to_csv(path, index=False)
    assert [r.patient_id for r in load_manifest(path).rows()] == ["007", "010"]
    table.drop(columns=["ID"]).to_csv(path, index=False)
    assert [r.patient_id for r in load_manifest(path).rows()] == ["case1", "case2"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"Label": [1, 0]}, r"lesion_mask_label on line\(s\) 3 is not a positive whole number"),
        ({"Label": ["one", 1]}, r"line\(s\) 2 is not a positive"),
        ({"Label_channel": [0, 0]}, "Label_channel column"),
        ({"image": ["a", "b"]}, r"livermets columns \['image'\]"),
    ],
)
def test_unusable_batch_columns_are_refused(cohort, tmp_path, extra, message):
    path = write_batch(cohort, tmp_path / "batch", **extra)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_lesions_table_keeps_only_the_label_value(cohort, tmp_path):
    from livermets.lesions import LesionSettings, build_lesion_tables

    # make_cohort's patients have two lesions, mask values 1 and 2
    all_values, _ = build_lesion_tables(load_manifest(write_batch(cohort, tmp_path / "a")),
                                        LesionSettings(min_diameter_mm=0))  # fmt: skip
    path = write_batch(cohort, tmp_path / "b", Label=[2, 2])
    only_two, _ = build_lesion_tables(load_manifest(path), LesionSettings(min_diameter_mm=0))
    assert list(all_values.groupby("patient_id").size()) == [2, 2]
    assert list(only_two.groupby("patient_id").size()) == [1, 1]
    second = all_values[all_values["lesion_id"] == 2].reset_index(drop=True)
    assert list(only_two["volume_ml"]) == pytest.approx(list(second["volume_ml"]))
