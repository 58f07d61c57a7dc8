"""The one fit-cache helper: round trip, and a broken or foreign file reads as a miss."""

from __future__ import annotations

import numpy as np

from livermets._cache import dump_cached, load_cached


def test_round_trip_and_misses(tmp_path):
    path = dump_cached(tmp_path / "sub" / "fit.joblib", {"prob": np.array([0.25, 0.75])})
    assert load_cached(path)["prob"].tolist() == [0.25, 0.75]
    assert load_cached(tmp_path / "absent.joblib") is None
    path.write_bytes(b"not a joblib file")
    assert load_cached(path) is None
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fit.joblib"]  # atomic
