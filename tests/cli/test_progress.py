"""One progress helper: the patient bar and the feature extraction's two bars share it."""

from __future__ import annotations

from livermets.cli._progress import patient_progress, progress_bars
from livermets.cli.features import _progress_callback


def test_patient_progress_advances_one_patient_at_a_time(monkeypatch):
    seen = {}
    original = progress_bars

    def spy():
        bars = original()
        seen["bars"] = bars
        return bars

    monkeypatch.setattr("livermets.cli._progress.progress_bars", spy)
    with patient_progress(3, "lesions") as advance:
        advance("P001")
        advance("P002")
    task = seen["bars"].tasks[0]
    assert (task.description, task.completed, task.total) == ("lesions", 2, 3)
    assert task.fields["note"] == "P002"


def test_feature_extraction_drives_patients_and_regions_on_the_same_bars():
    bars = progress_bars()
    update = _progress_callback(bars, n_patients=2)
    update("patient", {"n_tasks": 3})
    update("done", {"lesion": True})
    patients, regions = bars.tasks
    assert (patients.completed, patients.total) == (1, 2)
    assert (regions.completed, regions.total) == (1, 3)
    assert regions.fields["note"].endswith("lesions/s")
