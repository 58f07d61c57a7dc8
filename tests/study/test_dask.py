"""Outer folds on a Dask cluster: `compute.scheduler` / `--scheduler`, same results as inline."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.study import register
from livermets.errors import ConfigError
from livermets.pipeline import run_study
from livermets.study import config_from_dict
from tests.study.conftest import BASE, write_config, write_table

TINY = {
    "models": [{"name": "lr", "select": "anova", "select_params": {"k": 3},
                "classifier": "logistic"}],
    "validation": {"design": "nested_cv", "folds": 3, "repeats": 2, "bootstrap": 100,
                   "tuning": {"trials": 2, "inner_folds": 2}},
    "explain": {"shap": False, "permutation": False, "max_rows": 10},
}


def _invoke(*args: object) -> tuple[int, str]:
    """Run `livermets study run ...` in-process; (exit code, output)."""
    app = new_app("test")
    register(app)
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_outer_folds_on_a_dask_cluster_give_the_inline_predictions(tmp_path):
    from distributed import Client, LocalCluster

    write_table(tmp_path / "features.csv.gz", n_patients=18)
    config = write_config(tmp_path, **TINY)
    inline = run_study(config, tmp_path / "inline", workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        code, output = _invoke("study", "run", config, "--out", tmp_path / "dask",
                               "--scheduler", cluster.scheduler_address, "--json")
        used = set(client.run(os.getpid).values())
        ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert code == 0, output
    assert json.loads(output)["cached"] == []
    on_dask = pd.read_parquet(tmp_path / "dask" / "predictions.parquet")
    pd.testing.assert_frame_equal(inline.predictions, on_dask, check_exact=True)
    assert len(on_dask) == 2 * 27  # 18 patients, every second one with 2 lesions; 2 repeats
    assert len(used) == 2 and os.getpid() not in used
    assert all(count > 0 for count in ran.values())  # both workers ran folds


def test_malformed_scheduler_names_the_key():
    with pytest.raises(ConfigError) as info:
        config_from_dict({**BASE, "compute": {"scheduler": "localhost:8786"}})
    assert "compute.scheduler" in str(info.value) and "tcp://HOST:PORT" in str(info.value)


def test_unreachable_scheduler_fails_fast_naming_the_key(tmp_path):
    write_table(tmp_path / "features.csv.gz", n_patients=12)
    config = write_config(tmp_path, compute={"scheduler": "tcp://127.0.0.1:9"})
    with pytest.raises(ConfigError, match=r"compute\.scheduler: cannot connect to the Dask"):
        run_study(config, tmp_path / "out")
    code, output = _invoke("study", "run", config, "--out", tmp_path / "cli",
                           "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "--scheduler: cannot connect" in output
    code, output = _invoke("study", "run", config, "--out", tmp_path / "cli",
                           "--scheduler", "8786")
    assert code == 2 and "not a Dask scheduler address" in output
    assert not (tmp_path / "out" / "predictions.parquet").exists()
