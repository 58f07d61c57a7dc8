"""The documented path: `study run` predictions (class names in y_true) and a study file with
positive_label give a study whose truth is y_true == positive_label."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
import yaml

from livermets.errors import DataError
from livermets.readers.study import binary_truth, check_ai_positive
from tests.readers.conftest import ADMIN_PASSWORD, create_study_http, login


def test_study_run_predictions_hold_class_names(reader_cohort):
    """The fixture's predictions are in the format `study run` writes (not 0/1)."""
    _, preds_path = reader_cohort
    preds = pd.read_parquet(preds_path)
    assert set(preds["y_true"]) == {"metastasis", "hemangioma"}
    assert {"patient_id", "lesion_id", "model", "repeat", "fold", "split", "y_prob"} <= set(
        preds.columns)


@pytest.mark.parametrize(("positive", "expected"), [("metastasis", 4), ("hemangioma", 3)])
def test_create_study_from_study_run_predictions(study_file, make_live, positive, expected):
    """Creating a study from class-name predictions works; truth follows positive_label
    (the cohort has 4 metastases and 3 hemangiomas)."""
    raw = yaml.safe_load(study_file.read_text())
    raw["positive_label"] = positive
    study_file.write_text(yaml.safe_dump(raw))
    live = make_live()
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        study_id = create_study_http(admin, "documented path", [("fay", "fay-password-1")])
        assert "7 cases" in admin.get(f"/admin/studies/{study_id}").text
    from sqlalchemy import select

    from livermets.readers.models import Case

    with live.app.state.factory() as db:
        cases = db.scalars(select(Case)).all()
    assert len(cases) == 7 and sum(c.truth for c in cases) == expected


def test_binary_truth_accepts_names_and_zero_one():
    """0/1 truth is kept; class names map through positive_label; bad labels are refused."""
    assert binary_truth(pd.Series([0, 1, 1]), "metastasis").tolist() == [0, 1, 1]
    assert binary_truth(pd.Series([True, False]), "x").tolist() == [1, 0]
    names = pd.Series(["metastasis", "hemangioma", "metastasis"])
    assert binary_truth(names, "metastasis").tolist() == [1, 0, 1]
    with pytest.raises(DataError, match="positive_label 'cyst' is not a class"):
        binary_truth(names, "cyst")
    with pytest.raises(DataError, match="binary"):
        binary_truth(pd.Series(["a", "b", "c"]), "a")
    with pytest.raises(DataError, match="no y_true"):
        binary_truth(pd.Series(["a", None]), "a")


def test_positive_label_must_be_the_class_the_model_scores(tmp_path):
    """With the model card of `study run` beside the predictions, an inverted label is refused."""
    preds = tmp_path / "predictions.parquet"
    card = tmp_path / "models" / "lr" / "card.json"
    card.parent.mkdir(parents=True)
    card.write_text('{"model": "lr", "positive": "metastasis"}')
    check_ai_positive(str(preds), "lr", "metastasis")
    with pytest.raises(DataError, match=r"would be inverted\. Set positive_label: metastasis"):
        check_ai_positive(str(preds), "lr", "hemangioma")
    check_ai_positive(str(preds), "other_model", "hemangioma")  # no card: as documented
