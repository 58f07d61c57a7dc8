"""The synth marker: written by ``livermets synth``, read beside a study's manifest."""

from __future__ import annotations

import json

from livermets.cohort.synthetic import SYNTHETIC_MARKER, synthetic_origin, write_synthetic_marker
from livermets.study.config import StudyConfig
from livermets.study.runner import _marked_synthetic


def _config(manifest, **extra) -> StudyConfig:
    return StudyConfig.model_validate({
        "name": "s", "data": {"manifest": str(manifest), "radiomics_params": "small"},
        "models": [{"name": "lr", "classifier": "logistic"}], **extra})


def test_marker_round_trip_and_absence(tmp_path):
    assert synthetic_origin(tmp_path / "manifest.csv") is None
    write_synthetic_marker(tmp_path, {"task": "crlm-vs-hemangioma", "seed": 3, "patients": 24})
    origin = synthetic_origin(tmp_path / "manifest.csv")
    assert origin == {"generator": "livermets synth", "task": "crlm-vs-hemangioma", "seed": 3,
                      "patients": 24}
    (tmp_path / SYNTHETIC_MARKER).write_text("{not json")
    assert synthetic_origin(tmp_path / "manifest.csv")["generator"] == "livermets synth"


def test_a_study_on_a_marked_cohort_is_synthetic_whatever_its_yaml_says(tmp_path):
    (tmp_path / "manifest.csv").write_text("patient_id,image\n")
    assert _marked_synthetic(_config(tmp_path / "manifest.csv")).synthetic is False
    (tmp_path / SYNTHETIC_MARKER).write_text(json.dumps({"task": "t"}))
    assert _marked_synthetic(_config(tmp_path / "manifest.csv")).synthetic is True
    stated = _config(tmp_path / "manifest.csv", synthetic=False)
    assert _marked_synthetic(stated).synthetic is True
