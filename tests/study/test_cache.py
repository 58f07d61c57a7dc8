"""Study cache keys: what invalidates a model's folds and final refit, and what does not."""

from __future__ import annotations

import pytest

from livermets.pipeline import run_study
from livermets.study.config import (
    FIT_FIELDS,
    OTHER_FIELDS,
    DataSpec,
    StudyConfig,
    Validation,
    config_from_dict,
)
from livermets.study.runner import cache_key
from tests.study.conftest import BASE, write_config

LR = {"name": "lr", "select": "anova", "select_params": {"k": 3}}
TREE = {"name": "tree", "select": "anova", "select_params": {"k": 3},
        "classifier": "decision_tree"}


def _key(stage: str = "cv", model: str = "lr", **changes) -> str:
    config = config_from_dict({**BASE, "models": [LR, TREE], **changes})
    spec = next(m for m in config.models if m.name == model)
    return cache_key(config, "datahash", spec, stage)


def test_every_config_field_is_classified_for_the_cache():
    assert set(FIT_FIELDS) | OTHER_FIELDS == set(StudyConfig.model_fields)
    assert not set(FIT_FIELDS) & OTHER_FIELDS
    assert FIT_FIELDS["data"] <= set(DataSpec.model_fields)
    assert FIT_FIELDS["validation"] <= set(Validation.model_fields)


@pytest.mark.parametrize("changes", [
    {"models": [{**LR, "select_params": {"k": 4}}, TREE]},  # the model's own config
    {"models": [{**LR, "classifier": "naive_bayes"}, TREE]},
    {"seed": 4},
    {"validation": {**BASE["validation"], "folds": 4}},
    {"validation": {**BASE["validation"], "design": "nested_cv", "tuning": {"trials": 2}}},
    {"data": {**BASE["data"], "positive": "hemangioma"}},
    {"data": {**BASE["data"], "exclude": ["original_firstorder_F3"]}},
], ids=["select_params", "classifier", "seed", "folds", "tuning", "positive", "exclude"])
def test_a_change_that_alters_the_fit_invalidates(changes):
    assert _key(**changes) != _key()
    assert _key("final", **changes) != _key("final")


@pytest.mark.parametrize("changes", [
    {"compute": {"workers": 8}},
    {"compute": {"scheduler": "tcp://10.0.0.5:8786"}},
    {"models": [LR, {**TREE, "classifier": "knn"}]},  # another model
    {"title": "renamed", "name": "other", "tracking": "mlflow", "synthetic": False},
    {"explain": {"shap": False}, "aggregation": "mean", "subgroups": []},
    {"validation": {**BASE["validation"], "bootstrap": 500}},  # metrics only
    {"data": {**BASE["data"], "features": "/elsewhere/features.csv.gz"}},  # content is hashed
], ids=["workers", "scheduler", "other-model", "naming", "report", "bootstrap", "moved"])
def test_a_change_that_does_not_alter_the_fit_reuses_the_cache(changes):
    assert _key(**changes) == _key()
    assert _key("final", **changes) == _key("final")
    assert _key("final") != _key()


def test_a_rerun_recomputes_only_the_changed_model(study_dir):
    common = {"models": [LR, TREE], "validation": {"folds": 2, "bootstrap": 100},
              "explain": {"shap": False, "permutation": False}}
    first = run_study(write_config(study_dir, **common), study_dir / "out")
    assert first.cache_hits == []
    # compute, title and report settings change: every fit comes from the cache
    second = run_study(write_config(study_dir, **common, compute={"workers": 2},
                                    title="again", aggregation="mean"), study_dir / "out")
    assert sorted(second.cache_hits) == ["cv:lr", "cv:tree", "final:lr", "final:tree"]
    assert second.predictions.equals(first.predictions)
    # one model's config changes: only that model is refitted
    changed = {**common, "models": [LR, {**TREE, "classifier_params": {"max_depth": 2}}]}
    third = run_study(write_config(study_dir, **changed), study_dir / "out")
    assert sorted(third.cache_hits) == ["cv:lr", "final:lr"]
    tree = third.finals["tree"].card
    assert tree["params"]["classifier_params"] == {"max_depth": 2}
    assert tree["cache_key"] != first.finals["tree"].card["cache_key"]
