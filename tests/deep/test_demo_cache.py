"""The demo CNN's per-fold cache: reused only when nothing that changes the fit changed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livermets.deep.config import DeepModelSpec
from livermets.deep.demo import DEMO_CNN, _fold_key, _load_fold, _save_fold

SPEC = DeepModelSpec.model_validate(DEMO_CNN)
Y = np.array([0, 1, 1, 0])


def _key(**change):
    args = {"spec": SPEC, "crops_hash": "abc", "y": Y, "train_ids": ["p1", "p2"],
            "test_ids": ["p3"], "seed": 7, **change}
    return _fold_key(**args)


def test_fold_key_changes_with_everything_that_changes_the_fit():
    base = _key()
    assert base == _key()
    changed = [
        _key(spec=DeepModelSpec.model_validate({**DEMO_CNN, "train": {**DEMO_CNN["train"],
                                                                      "epochs": 5}})),
        _key(crops_hash="abd"),
        _key(y=np.array([0, 1, 0, 0])),
        _key(train_ids=["p1", "p4"]),
        _key(test_ids=["p4"]),
        _key(seed=8),
    ]
    assert len({base, *changed}) == 1 + len(changed)


def test_load_fold_refuses_a_stale_key_a_missing_model_and_a_broken_file(tmp_path):
    path = tmp_path / "fold-0-0.joblib"
    keys = pd.DataFrame({"patient_id": ["p3"], "lesion_id": ["1"]})
    _save_fold(path, {"key": "k1", "keys": keys, "prob": np.array([0.25]), "seconds": 1.5,
                      "model": None})
    got = _load_fold(path, "k1", with_model=False)
    assert got is not None and got["prob"].tolist() == [0.25]
    pd.testing.assert_frame_equal(got["keys"], keys)
    assert _load_fold(path, "k2", with_model=False) is None
    assert _load_fold(path, "k1", with_model=True) is None  # the gallery needs the weights
    path.write_bytes(b"not a checkpoint")
    assert _load_fold(path, "k1", with_model=False) is None
    assert _load_fold(tmp_path / "absent.joblib", "k1", with_model=False) is None
