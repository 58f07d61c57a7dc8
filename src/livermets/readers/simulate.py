"""Simulated readers: binormal ratings with a known AI effect, and concurrent readers that rate
through the HTTP API (for the load test and the latency benchmark)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm


def binormal_auc(separation: float) -> float:
    """AUC of a binormal reader with unit variances whose class means differ by ``separation``."""
    return float(norm.cdf(separation / np.sqrt(2.0)))


def separation_for_auc(auc: float) -> float:
    """The binormal mean difference that gives ``auc``."""
    return float(np.sqrt(2.0) * norm.ppf(auc))


def simulate_ratings(n_readers: int = 5, n_cases: int = 200, auc_without: float = 0.75,
                     auc_with: float = 0.85, reader_sd: float = 0.03, seed: int = 0,
                     prevalence: float = 0.5) -> pd.DataFrame:
    """A reader study in the export format where AI raises every reader's expected AUC from
    ``auc_without`` to ``auc_with`` (case effects shared across readers and modalities)."""
    rng = np.random.default_rng(seed)
    n_pos = round(n_cases * prevalence)
    truth = np.r_[np.ones(n_pos, int), np.zeros(n_cases - n_pos, int)]
    case_effect = rng.normal(0.0, 0.7, n_cases)  # correlation between readers and modalities
    rows = []
    for modality, auc in (("without-ai", auc_without), ("with-ai", auc_with)):
        for r in range(n_readers):
            reader_auc = float(np.clip(auc + rng.normal(0, reader_sd), 0.55, 0.98))
            d = separation_for_auc(reader_auc) * np.sqrt(1 + 0.7**2)
            latent = truth * d + case_effect + rng.normal(0, 1.0, n_cases)
            rating = np.round(100 * norm.cdf((latent - d / 2) / np.sqrt(1 + 0.7**2)), 1)
            times = rng.lognormal(np.log(40 if modality == "without-ai" else 32), 0.4, n_cases)
            rows.append(pd.DataFrame({
                "reader": f"R{r + 1}", "modality": modality, "case": [f"C{c + 1:03d}"
                                                                     for c in range(n_cases)],
                "truth": truth, "rating": rating, "time_s": times.round(1),
                "size_group": np.where(np.arange(n_cases) % 3 == 0, "<=10 mm",
                                       np.where(np.arange(n_cases) % 3 == 1, "10-30 mm",
                                                ">30 mm"))}))
    return pd.concat(rows, ignore_index=True)


@dataclass
class LoadResult:
    """What simulated concurrent readers did: ratings stored, errors and request latencies."""

    ratings: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0

    def add(self, kind: str, seconds: float) -> None:
        """Record the latency of one request."""
        self.latencies.setdefault(kind, []).append(seconds)

    def table(self) -> pd.DataFrame:
        """Latency percentiles (ms) per request kind."""
        rows = [{"request": k, "n": len(v), "p50_ms": 1000 * float(np.percentile(v, 50)),
                 "p95_ms": 1000 * float(np.percentile(v, 95)),
                 "max_ms": 1000 * float(np.max(v))} for k, v in sorted(self.latencies.items())]
        return pd.DataFrame(rows)


async def _one_reader(base_url: str, username: str, password: str, session_index: int,
                      max_ratings: int, images: bool, result: LoadResult, seed: int) -> None:
    """Log in and rate up to ``max_ratings`` cases of one session through the JSON API."""
    import httpx

    rng = np.random.default_rng(seed)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await client.get("/login")
        me = (await client.get("/api/me")).status_code  # 401 until logged in
        if me != 401:
            result.errors.append(f"{username}: /api/me before login gave {me}")
        token = client.cookies.get("livermets_session")
        page = await client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        t0 = time.perf_counter()
        resp = await client.post("/login", data={"username": username, "password": password,
                                                 "csrf_token": csrf})
        result.add("login", time.perf_counter() - t0)
        if resp.status_code != 303 or token == client.cookies.get("livermets_session"):
            result.errors.append(f"{username}: login failed ({resp.status_code})")
            return
        csrf = (await client.get("/api/me")).json()["csrf"]
        for _ in range(max_ratings):
            t0 = time.perf_counter()
            current = (await client.get(f"/api/sessions/{session_index}/current")).json()
            result.add("current case", time.perf_counter() - t0)
            if current.get("done") or current.get("locked"):
                return
            if images:
                t0 = time.perf_counter()
                img = await client.get(
                    f"/api/images/{current['assignment_id']}/{current['start_slice']}.png")
                result.add("slice png", time.perf_counter() - t0)
                if img.status_code != 200:
                    result.errors.append(f"{username}: image {img.status_code}")
            t0 = time.perf_counter()
            resp = await client.post("/api/ratings", headers={"X-CSRF-Token": csrf}, json={
                "assignment_id": current["assignment_id"], "rating": int(rng.integers(0, 101)),
                "comment": f"load {username}"})
            result.add("save rating", time.perf_counter() - t0)
            if resp.status_code == 201:
                result.ratings += 1
            else:
                result.errors.append(f"{username}: rating {resp.status_code} {resp.text[:80]}")


async def _run(base_url: str, readers: list[tuple[str, str]], session_index: int,
               max_ratings: int, images: bool) -> LoadResult:
    """Run all simulated readers at once."""
    result = LoadResult()
    t0 = time.perf_counter()
    await asyncio.gather(*(_one_reader(base_url, u, p, session_index, max_ratings, images,
                                       result, i) for i, (u, p) in enumerate(readers)))
    result.wall_s = time.perf_counter() - t0
    return result


def run_load(base_url: str, readers: list[tuple[str, str]], session_index: int = 0,
             max_ratings: int = 10, images: bool = True) -> LoadResult:
    """Let ``readers`` log in concurrently and each rate up to ``max_ratings`` cases."""
    return asyncio.run(_run(base_url, readers, session_index, max_ratings, images))
