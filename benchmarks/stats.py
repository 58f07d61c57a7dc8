"""Benchmark of the statistics layer against naive implementations; prints a table.

Run: .venv/bin/python benchmarks/stats.py  (times are medians of several runs, one core)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from livermets.stats import roc_auc
from livermets.stats.bootstrap import bootstrap_auc_replicates
from livermets.stats.delong import delong_variance


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def naive_delong(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """O(m n) DeLong: the full kernel matrix (DeLong et al. 1988)."""
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(v10.mean()), float(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)


def naive_bootstrap(pos: np.ndarray, neg: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Python-loop stratified bootstrap, one sort-based AUC per replicate."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    m, n = pos.size, neg.size
    for b in range(n_boot):
        p = pos[rng.integers(0, m, m)]
        q = neg[rng.integers(0, n, n)]
        ranks = rankdata(np.concatenate([p, q]))
        out[b] = (ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    return out


def main() -> None:
    """Print the performance table."""
    rng = np.random.default_rng(0)
    rows = []

    n = 1_000_000
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    t_fast = median_time(lambda: roc_auc(y, s), 5)
    rows.append(("DeLong AUC + CI, n = 10^6", t_fast, None, "< 2 s"))

    n_small = 20_000
    ys = rng.random(n_small) < 0.3
    ss = rng.normal(size=n_small) + ys
    pos, neg = ss[ys], ss[~ys]
    t_fast_s = median_time(lambda: delong_variance(pos, neg), 5)
    t_naive_s = median_time(lambda: naive_delong(pos, neg), 3)
    assert np.allclose(delong_variance(pos, neg), naive_delong(pos, neg))
    rows.append((f"DeLong AUC + var, n = {n_small} (vs O(n^2))", t_fast_s, t_naive_s, ""))

    yb = rng.random(1000) < 0.3
    sb = rng.normal(size=1000) + yb
    pb, nb = sb[yb], sb[~yb]
    t_boot = median_time(lambda: bootstrap_auc_replicates(pb, nb, n_boot=2000, seed=1), 5)
    t_loop = median_time(lambda: naive_bootstrap(pb, nb, 2000, 1), 3)
    rows.append(("2000 stratified bootstrap AUCs, n = 1000", t_boot, t_loop, "< 1 s"))

    print(f"{'benchmark':<48} {'livermets (s)':>14} {'naive (s)':>10} {'speed-up':>9} "
          f"{'target':>7}")
    for name, fast, naive, target in rows:
        naive_txt = f"{naive:10.4f}" if naive is not None else f"{'-':>10}"
        ratio = f"{naive / fast:8.1f}x" if naive is not None else f"{'-':>9}"
        print(f"{name:<48} {fast:14.4f} {naive_txt} {ratio} {target:>7}")


if __name__ == "__main__":
    main()
