"""Reader-study server latency: N simulated readers rate concurrently on loopback; prints p50/p95
per request kind (not asserted). Usage: python benchmarks/readers.py [--readers 50] [--ratings 10]
[--db URL]."""

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


def main() -> None:
    """Run the benchmark and print the latency table."""
    import httpx
    import uvicorn

    from livermets.readers import create_app, load_study_file
    from livermets.readers.simulate import run_load

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--ratings", type=int, default=10)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    os.environ.setdefault("LIVERMETS_READERS_ADMIN_PASSWORD", "benchmark-admin")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = create_app(load_study_file(_cohort(root)), args.db or f"sqlite:///{root}/b.db")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        readers = [(f"r{i:03d}", f"password-{i:03d}") for i in range(args.readers)]
        with httpx.Client(base_url=url, timeout=300) as admin:
            page = admin.get("/login").text
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            admin.post("/login", data={"username": "admin", "password": "benchmark-admin",
                                       "csrf_token": token})
            token = admin.get("/api/me").json()["csrf"]
            created = admin.post("/admin/studies", data={
                "name": "benchmark", "model": "m", "scale": "probability", "washout_days": "0",
                "seed": "1", "readers": "\n".join(f"{u} {p}" for u, p in readers),
                "csrf_token": token})
            if created.status_code != 303:
                raise SystemExit(f"creating the study failed: {created.text}")
        result = run_load(url, readers, 0, args.ratings, images=True)
        server.should_exit = True
        thread.join()
    print(f"{args.readers} readers x up to {args.ratings} ratings: {result.ratings} stored, "
          f"{len(result.errors)} errors, {result.wall_s:.1f} s wall")
    print(result.table().round(1).to_string(index=False))


if __name__ == "__main__":
    main()
