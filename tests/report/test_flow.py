"""Patient flow: cohort, analysed, not analysed, splits."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from livermets.report.flow import flow_figure, flow_table


def test_flow_counts_the_cohort_the_analysed_and_each_split(tmp_path):
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "image": ["i.nii.gz"] * 4,
                  "lesion_mask": ["m.nii.gz"] * 4}).to_csv(manifest, index=False)
    data = SimpleNamespace(patient_id=np.array(["a", "a", "b", "c"]))
    predictions = pd.DataFrame({
        "patient_id": ["a", "a", "b", "c"] * 2, "lesion_id": ["1", "2", "1", "1"] * 2,
        "split": ["cv", "cv", "cv", "external"] * 2, "repeat": [0] * 4 + [1] * 4})
    result = SimpleNamespace(data=data, predictions=predictions,
                             config=SimpleNamespace(data=SimpleNamespace(manifest=manifest)))
    table = flow_table(result).set_index("stage")
    assert table.loc["cohort (manifest)", "patients"] == 4
    assert table.loc["analysed (a feature row and a label)", ["patients", "cases"]].tolist() == [
        3, 4]
    assert table.loc["split: cv", ["patients", "cases"]].tolist() == [2, 3]
    assert table.loc["split: external", ["patients", "cases"]].tolist() == [1, 1]
    assert table.loc["not analysed (no lesion kept, or extraction failed)", "patients"] == 1
    assert flow_figure(table.reset_index(), "lesions")[:4] == b"\x89PNG"
