"""Local worker processes, a real 2-worker Dask cluster, killed workers and killed runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from livermets.cohort import load_manifest
from livermets.radiomics import get_engine, params_from_dict
from livermets.radiomics.runner import extract_cohort
from livermets.radiomics.tables import feature_table
from tests.radiomics.conftest import write_cohort

ROOT = Path(__file__).resolve().parents[2]
SLOW = {
    "extraction": {"image_types": {"original": True, "log": {"sigma": [1.0, 2.0, 3.0]}}},
    "regions": {"lesion": True, "ring_mm": [3], "liver": True},
}


def _features(manifest, params, **kwargs) -> tuple[pd.DataFrame, object]:
    result = extract_cohort(load_manifest(manifest), params, **kwargs)
    table = feature_table(result, params, "lesion", get_engine(params.engine).version())
    return table, result


@pytest.fixture(scope="module")
def cohort4(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort4"), 4)


@pytest.fixture(scope="module")
def slow_reference(cohort4):
    """Features of the slow parameters from one uninterrupted in-process run."""
    table, _ = _features(cohort4, params_from_dict(SLOW), workers=1)
    return table


def _slow_params_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(SLOW))  # JSON is YAML
    return path


def test_workers_and_dask_give_the_inline_features(cohort4):
    from distributed import Client, LocalCluster

    params = params_from_dict({"regions": {"ring_mm": [3], "liver": True}})
    inline, _ = _features(cohort4, params, workers=1)
    pooled, run = _features(cohort4, params, workers=2)
    pd.testing.assert_frame_equal(inline, pooled)
    assert run.stats.n_regions_computed == 20
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        on_dask, run = _features(cohort4, params, scheduler=client)
        # by address too, as --scheduler does
        by_address, _ = _features(cohort4, params, scheduler=cluster.scheduler_address)
        workers_used = {w for w in client.run(os.getpid).values()}
    pd.testing.assert_frame_equal(inline, on_dask)
    pd.testing.assert_frame_equal(inline, by_address)
    assert run.stats.n_regions_computed == 20 and len(workers_used) == 2


def _start(cli_script, manifest, params_path, out, workers=2):
    return subprocess.Popen(
        [sys.executable, str(cli_script), "features", str(manifest), "--params",
         str(params_path), "--out", str(out), "--workers", str(workers), "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _parts(cache: Path) -> list[Path]:
    """Finished cache parts (not temporary files)."""
    folder = cache / "parts"
    found = folder.glob("*.parquet") if folder.is_dir() else []
    return [p for p in found if not p.name.startswith(".")]


def _wait_for_parts(cache: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _parts(cache):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no task finished in time")


def test_killed_worker_is_replaced_and_nothing_is_lost(
    tmp_path, cohort4, cli_script, slow_reference
):
    params_path = _slow_params_file(tmp_path)
    out = tmp_path / "f.parquet"
    proc = _start(cli_script, cohort4, params_path, out)
    _wait_for_parts(tmp_path / "f.cache", proc)
    workers = psutil.Process(proc.pid).children()
    assert len(workers) >= 2
    workers[0].send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["worker_restarts"] >= 1 and summary["errors"] == 0
    got = pd.read_parquet(out)
    pd.testing.assert_frame_equal(got, slow_reference, check_dtype=False)


def test_killed_run_resumes_from_the_cache(tmp_path, cohort4, cli_script, slow_reference):
    params_path = _slow_params_file(tmp_path)
    out = tmp_path / "f.parquet"
    proc = _start(cli_script, cohort4, params_path, out)
    _wait_for_parts(tmp_path / "f.cache", proc)
    children = psutil.Process(proc.pid).children()
    proc.send_signal(signal.SIGKILL)  # the whole run dies, as with a crash or a lost node
    proc.wait()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive  # workers end with the main process
    assert not out.exists()
    saved = len(_parts(tmp_path / "f.cache"))
    assert saved >= 1
    again = _start(cli_script, cohort4, params_path, out)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["regions_cached"] >= saved
    assert summary["regions_cached"] + summary["regions_computed"] == 20
    assert summary["regions_computed"] < 20
    pd.testing.assert_frame_equal(pd.read_parquet(out), slow_reference, check_dtype=False)
