"""Reader-study server: N simulated readers rate concurrently on loopback (p50/p95 per request
kind, ratings acknowledged vs stored), then another reader's latency while a flood of concurrent
wrong-password logins runs (the hashing pool and login limits bound it). Nothing is asserted.
Usage: python benchmarks/readers.py [--readers 50] [--ratings 10] [--flood 30] [--db URL]."""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def _cohort(root: Path) -> Path:
    """A small synthetic cohort with model predictions and a study file."""
    from livermets.synth import generate_cohort, make_config

    cohort = generate_cohort(make_config("crlm-vs-hemangioma", 12, 3, scale=2.5), root / "cohort",
                             workers=1)
    from livermets.cohort import load_manifest
    from livermets.lesions import build_lesion_tables

    truth, _ = build_lesion_tables(load_manifest(cohort.manifest))
    y = (truth["label"] == "metastasis").astype(int).to_numpy()
    prob = np.clip(0.25 + 0.5 * y + np.random.default_rng(0).normal(0, 0.15, len(y)), 0, 1)
    pd.DataFrame({"patient_id": truth["patient_id"], "lesion_id": truth["lesion_id"],
                  "model": "m", "repeat": 0, "fold": 0, "split": "cv", "y_true": y,
                  "y_prob": prob}).to_parquet(root / "preds.parquet")
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump({"cohort": str(cohort.manifest),
                                     "predictions": str(root / "preds.parquet"), "model": "m",
                                     "washout_days": 0}))
    return study


def _login(client, username: str, password: str) -> int:
    """Log ``client`` in through the form; the status of the POST."""
    page = client.get("/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}).status_code


def _percentiles(values: list[float]) -> tuple[float, float]:
    return 1000 * float(np.percentile(values, 50)), 1000 * float(np.percentile(values, 95))


def login_flood(url: str, user: tuple[str, str], n_flood: int, attempts: int = 4) -> pd.DataFrame:
    """``/api/me`` latency of a logged-in reader, idle and during ``n_flood`` concurrent floods."""
    import httpx

    def probe(client, n: int) -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            client.get("/api/me")
            out.append(time.perf_counter() - start)
        return out

    statuses: list[int] = []

    def flood(k: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as c:
            for j in range(attempts):
                statuses.append(_login(c, f"nobody{k}-{j}" if k % 2 else user[0], "wrong-guess"))

    with httpx.Client(base_url=url, timeout=300) as reader:
        _login(reader, *user)
        idle = probe(reader, 60)
        threads = [threading.Thread(target=flood, args=(k,)) for k in range(n_flood)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        during: list[float] = []
        while any(t.is_alive() for t in threads):
            during += probe(reader, 5)
        flood_s = time.perf_counter() - start
        for t in threads:
            t.join()
    (i50, i95), (f50, f95) = _percentiles(idle), _percentiles(during)
    codes = ", ".join(f"{c}: {statuses.count(c)}" for c in sorted(set(statuses)))
    print(f"login flood: {n_flood} clients x {attempts} wrong logins in {flood_s:.1f} s "
          f"(answers {codes})")
    return pd.DataFrame([{"phase": "idle", "n": len(idle), "p50_ms": i50, "p95_ms": i95},
                         {"phase": "login flood", "n": len(during), "p50_ms": f50,
                          "p95_ms": f95, "p95_vs_idle": f95 / i95}])


def main() -> None:
    """Run the benchmark and print the latency table."""
    import httpx
    import uvicorn

    from livermets.readers import create_app, export_ratings, load_study_file
    from livermets.readers.server import uvicorn_config
    from livermets.readers.simulate import run_load

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--ratings", type=int, default=10)
    parser.add_argument("--flood", type=int, default=30, help="Concurrent login flooders.")
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    os.environ.setdefault("LIVERMETS_READERS_ADMIN_PASSWORD", "benchmark-admin")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = args.db or f"sqlite:///{root}/b.db"
        app = create_app(load_study_file(_cohort(root)), db)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        readers = [(f"r{i:03d}", f"password-{i:03d}") for i in range(args.readers)]
        with httpx.Client(base_url=url, timeout=300) as admin:
            _login(admin, "admin", "benchmark-admin")
            token = admin.get("/api/me").json()["csrf"]
            created = admin.post("/admin/studies", data={
                "name": "benchmark", "model": "m", "scale": "probability", "washout_days": "0",
                "seed": "1", "readers": "\n".join(f"{u} {p}" for u, p in readers),
                "csrf_token": token})
            if created.status_code != 303:
                raise SystemExit(f"creating the study failed: {created.text}")
        result = run_load(url, readers, 0, args.ratings, images=True)
        flood = login_flood(url, readers[0], args.flood)
        server.should_exit = True
        thread.join()
        stored = len(export_ratings(db, root / "ratings.csv"))
    print(f"{args.readers} readers x up to {args.ratings} ratings in {result.wall_s:.1f} s "
          f"({result.ratings / result.wall_s:.1f} ratings/s): {result.ratings} acknowledged, "
          f"{stored} stored, {result.ratings - stored} lost, {len(result.errors)} errors")
    print(result.table().round(1).to_string(index=False))
    print(flood.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
