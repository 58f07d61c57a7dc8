"""A damaged feature cache is found, removed and rebuilt, and the user is told; results stay."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

PARAMS = {"extraction": {"feature_classes": ["firstorder"]}}


@pytest.mark.parametrize("damage", ["garbage", "empty", "foreign_table"])
def test_damaged_cache_is_rebuilt_with_a_warning(cli, cohort, tmp_path, damage):
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    out = tmp_path / "f.parquet"
    args = ("features", cohort, "--params", params, "--out", out, "--workers", "1", "--json")
    code, output = cli(*args)
    assert code == 0, output
    first = pd.read_parquet(out)
    main = tmp_path / "f.cache" / "cache.parquet"
    assert main.is_file()
    if damage == "garbage":
        main.write_bytes(b"\x00garbage, not parquet" * 10)
    elif damage == "empty":
        main.write_bytes(b"")
    else:
        pd.DataFrame({"a": [1, 2]}).to_parquet(main)
    code, output = cli(*args)
    assert code == 0, output
    assert "removed unreadable feature cache file" in output and str(main) in output
    summary = json.loads(output[output.index("{"):])
    assert summary["regions_computed"] == 4 and summary["regions_cached"] == 0
    assert len(summary["cache_repairs"]) == 1
    pd.testing.assert_frame_equal(pd.read_parquet(out), first)
    code, output = cli(*args)
    summary = json.loads(output[output.index("{"):])
    assert code == 0 and summary["regions_cached"] == 4 and summary["cache_repairs"] == []


def test_damaged_part_file_is_removed(tmp_path):
    from livermets.radiomics.cache import FeatureCache

    cache = FeatureCache(tmp_path / "c")
    cache.parts.mkdir(parents=True)
    (cache.parts / "broken.parquet").write_bytes(b"PAR1 truncated")
    assert cache.records == {}
    assert not (cache.parts / "broken.parquet").exists()
    assert len(cache.repairs) == 1 and "broken.parquet" in cache.repairs[0]
