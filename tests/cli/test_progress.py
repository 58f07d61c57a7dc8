"""One progress helper: the patient bar and the feature extraction's two bars share it."""

from __future__ import annotations

from livermets.cli._progress import (
    patient_progress,
    progress_bars,
    quiet_or_patient_progress,
    step_progress,
)
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


def _spy_bars(monkeypatch) -> dict:
    seen = {}
    original = progress_bars

    def spy():
        seen["bars"] = original()
        return seen["bars"]

    monkeypatch.setattr("livermets.cli._progress.progress_bars", spy)
    return seen


def test_step_progress_shows_the_steps_and_their_numbers(monkeypatch):
    """The training loops' (done, total, record) callback: the crop CNN's epochs, the
    multi-phase network's iterations."""
    seen = _spy_bars(monkeypatch)
    with step_progress(4, "cnn") as update:
        update(1, 4, {"loss": 0.5})
        update(2, 4, {"epoch": 1, "loss": 0.25, "val_auc": 0.75})
    task = seen["bars"].tasks[0]
    assert (task.description, task.completed, task.total) == ("cnn", 2, 4)
    assert task.fields["note"] == "loss 0.250  val_auc 0.750"


def test_quiet_progress_draws_nothing(monkeypatch):
    seen = _spy_bars(monkeypatch)
    with quiet_or_patient_progress(True, 3, "synth") as advance:
        assert advance is None
    assert seen == {}
    with quiet_or_patient_progress(False, 3, "synth") as advance:
        assert advance is not None
        advance("P0001")
    assert seen["bars"].tasks[0].completed == 1


def test_feature_extraction_drives_patients_and_regions_on_the_same_bars():
    bars = progress_bars()
    update = _progress_callback(bars, n_patients=2)
    update("patient", {"n_tasks": 3})
    update("done", {"lesion": True})
    patients, regions = bars.tasks
    assert (patients.completed, patients.total) == (1, 2)
    assert (regions.completed, regions.total) == (1, 3)
    assert regions.fields["note"].endswith("lesions/s")
