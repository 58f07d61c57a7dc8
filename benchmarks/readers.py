"""Reader-study server: N simulated readers rate concurrently on loopback (p50/p95 per request
kind, ratings acknowledged vs stored), then another reader's latency while a flood of concurrent
wrong-password logins runs (the hashing pool and login limits bound it). The server is
`livermets readers serve` in its own process, as users run it. Nothing is asserted.
Usage: python benchmarks/readers.py [--readers 50] [--ratings 10] [--flood 30] [--flood-repeats 3]
[--flood-seconds 8] [--db URL]."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
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


def _like_a_remote_client(ready, go, duration_s: float) -> float:
    """Prepare the flooding process, then wait for the start; the wall-clock end of the flood.

    The process runs 10 nice levels below the benchmark: on this loopback box the attacker's own
    client CPU (which a remote attacker spends on their own machine) would otherwise compete with
    the server, its database and the measuring reader. For the same reason the process start
    (interpreter, imports) happens before ``ready`` is set and is not inside the measured window.
    """
    os.nice(10)
    ready.set()
    go.wait()
    return time.time() + duration_s


def _flood(url: str, user: str, n_flood: int, duration_s: float, codes, ready, go) -> None:
    """``n_flood`` threads, each trying wrong passwords one after another for ``duration_s``
    after ``go`` (odd ones: unknown users)."""
    import httpx

    # the clients (each builds a TLS context: client CPU, not the server's) exist before the start
    clients = [httpx.Client(base_url=url, timeout=300) for _ in range(n_flood)]
    stop_at = _like_a_remote_client(ready, go, duration_s)

    def one(k: int) -> None:
        with clients[k] as c:
            j = 0
            while time.time() < stop_at:
                codes.put(_login(c, f"nobody{k}-{j}" if k % 2 else user, "wrong-guess"))
                j += 1

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n_flood)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def _raw_exchange(reader, writer, head: str, body: bytes = b"") -> tuple[int, dict, str]:
    """One HTTP/1.1 request on a kept-alive connection: status, headers (lower-case), body."""
    writer.write(head.encode() + body)
    await writer.drain()
    status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in filter(None, lines):
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    text = (await reader.readexactly(int(headers["content-length"][0]))).decode()
    return int(status_line.split()[1]), headers, text


def _flood_raw(url: str, user: str, n_flood: int, duration_s: float, codes, ready, go
               ) -> None:
    """The same flood as :func:`_flood`, sent by one asyncio loop over raw sockets (little CPU
    on the client side, as an efficient attack tool would use)."""
    import asyncio
    from urllib.parse import urlencode, urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    stop_at = _like_a_remote_client(ready, go, duration_s)

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        base = f"Host: {host}:{port}\r\nConnection: keep-alive\r\n"
        try:
            j = 0
            while time.time() < stop_at:
                _, headers, page = await _raw_exchange(reader, writer,
                                                       f"GET /login HTTP/1.1\r\n{base}\r\n")
                cookie = "; ".join(c.split(";", 1)[0] for c in headers.get("set-cookie", []))
                token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                form = urlencode({"username": f"nobody{k}-{j}" if k % 2 else user,
                                  "password": "wrong-guess", "csrf_token": token}).encode()
                status, _, _ = await _raw_exchange(
                    reader, writer, f"POST /login HTTP/1.1\r\n{base}Cookie: {cookie}\r\n"
                    f"Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(form)}\r\n\r\n", form)
                codes.put(status)
                j += 1
        finally:
            writer.close()

    async def all_of_them() -> None:
        await asyncio.gather(*(one(k) for k in range(n_flood)))

    asyncio.run(all_of_them())


FLOODERS = {"raw": _flood_raw, "httpx": _flood}


def login_flood(url: str, user: tuple[str, str], n_flood: int, duration_s: float = 8.0,
                flooder: str = "raw", burst_s: float = 2.0) -> pd.DataFrame:
    """``/api/me`` latency of a logged-in reader, idle and while ``n_flood`` concurrent clients
    (in a process of their own, so they do not slow the measuring client) send wrong logins
    back to back for ``duration_s``; the first ``burst_s`` (before lockouts start) also alone."""
    import multiprocessing

    import httpx

    def probe(client, n: int) -> list[tuple[float, float]]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            client.get("/api/me")
            out.append((start, time.perf_counter() - start))
        return out

    context = multiprocessing.get_context("spawn")
    codes, ready, go = context.Queue(), context.Event(), context.Event()
    statuses: list[int] = []
    with httpx.Client(base_url=url, timeout=300) as reader:
        _login(reader, *user)
        idle = [lat for _, lat in probe(reader, 300)]
        flood = context.Process(target=FLOODERS[flooder],
                                args=(url, user[0], n_flood, duration_s, codes, ready, go))
        flood.start()
        if not ready.wait(timeout=120):
            raise RuntimeError("the flooding process did not start")
        start = time.perf_counter()
        go.set()
        during: list[tuple[float, float]] = []
        while flood.is_alive():
            during += probe(reader, 5)
            while not codes.empty():  # drain, so the flooder never blocks on a full pipe
                statuses.append(codes.get())
        flood_s = time.perf_counter() - start
        flood.join()
    while not codes.empty():
        statuses.append(codes.get())
    burst = [lat for t, lat in during if t - start < burst_s]
    whole = [lat for _, lat in during]
    answers = ", ".join(f"{c}: {statuses.count(c)}" for c in sorted(set(statuses)))
    print(f"login flood ({flooder}): {n_flood} clients sending wrong logins for {flood_s:.1f} s: "
          f"{len(statuses)} answered ({answers})")
    rows = [{"phase": "idle", "n": len(idle), **_row(idle)},
            {"phase": f"flood, first {burst_s:g} s", "n": len(burst), **_row(burst)},
            {"phase": "flood, whole", "n": len(whole), **_row(whole)}]
    i95 = rows[0]["p95_ms"]
    return pd.DataFrame([{**r, "p95_vs_idle": r["p95_ms"] / i95} for r in rows]).assign(
        logins_answered=[np.nan, np.nan, len(statuses)])


def _row(latencies: list[float]) -> dict[str, float]:
    p50, p95 = _percentiles(latencies)
    return {"p50_ms": p50, "p95_ms": p95}


def repeated_floods(url: str, user: tuple[str, str], n_flood: int, repeats: int,
                    restart, after_first, flooders: tuple[str, ...] = ("raw", "httpx"),
                    duration_s: float = 8.0) -> pd.DataFrame:
    """``login_flood`` ``repeats`` times per flooder, and the medians. Each run after the first
    is against a restarted server (``restart()`` gives its URL): the lockouts of a run live in
    the server's memory, so every run is the same first flood, with its password checks, not
    only 429s. ``after_first()`` is called between the first run and the restart."""
    runs = []
    for flooder in flooders:
        for k in range(repeats):
            if runs:
                url = restart()
            runs.append(login_flood(url, user, n_flood, duration_s, flooder=flooder)
                        .assign(flooder=flooder, run=k + 1))
            if len(runs) == 1:
                after_first()
    table = pd.concat(runs, ignore_index=True)
    median = (table.groupby(["flooder", "phase"], sort=False)
              [["n", "p50_ms", "p95_ms", "p95_vs_idle", "logins_answered"]].median().reset_index())
    return pd.concat([table, median.assign(run="median")], ignore_index=True)


def _serve(study: Path, db: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`livermets readers serve` in its own process (as users run it); the process and URL."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "from livermets.cli.main import main; main()", "readers",
         "serve", "--study", str(study), "--db", db, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read()}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start in 120 s")
        time.sleep(0.2)


def _memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory (MB) of a process (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def main() -> None:
    """Run the benchmark and print the tables."""
    import httpx

    from livermets.readers import export_ratings
    from livermets.readers.server import masked_url
    from livermets.readers.simulate import run_load

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--ratings", type=int, default=10)
    parser.add_argument("--flood", type=int, default=30, help="Concurrent login flooders.")
    parser.add_argument("--flood-repeats", type=int, default=3, help="Flood runs (median shown).")
    parser.add_argument("--flood-seconds", type=float, default=8.0,
                        help="How long each flood lasts.")
    parser.add_argument("--db", default=None, help="Database URL (default: a new SQLite file); "
                        "a PostgreSQL database is emptied first.")
    args = parser.parse_args()
    env = {**os.environ, "LIVERMETS_READERS_ADMIN_PASSWORD": "benchmark-admin-password",
           "LIVERMETS_READERS_SECRET": "benchmark-secret-" + "x" * 32,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = args.db or f"sqlite:///{root}/b.db"
        if db.startswith("postgresql"):
            _empty_postgres(db)
        study = _cohort(root)
        server, url = _serve(study, db, env)

        def restart() -> str:
            nonlocal server
            server.terminate()
            server.wait(timeout=30)
            server, new_url = _serve(study, db, env)
            return new_url

        try:
            readers = [(f"r{i:03d}", f"password-{i:03d}") for i in range(args.readers)]
            with httpx.Client(base_url=url, timeout=300) as admin:
                _login(admin, "admin", env["LIVERMETS_READERS_ADMIN_PASSWORD"])
                token = admin.get("/api/me").json()["csrf"]
                created = admin.post("/admin/studies", data={
                    "name": "benchmark", "model": "m", "scale": "probability",
                    "washout_days": "0", "seed": "1",
                    "readers": "\n".join(f"{u} {p}" for u, p in readers), "csrf_token": token})
                if created.status_code != 303:
                    raise SystemExit(f"creating the study failed: {created.text}")
            memory = [("after study creation", *_memory_mb(server.pid))]
            result = run_load(url, readers, 0, args.ratings, images=True)
            memory.append(("after the readers", *_memory_mb(server.pid)))
            flood = repeated_floods(
                url, readers[0], args.flood, args.flood_repeats, restart,
                lambda: memory.append(("after the login flood", *_memory_mb(server.pid))),
                duration_s=args.flood_seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = len(export_ratings(db, root / "ratings.csv"))
    print(f"server: livermets readers serve in its own process, database {masked_url(db)}, "
          f"{os.cpu_count()} CPU cores")
    print(f"{args.readers} readers x up to {args.ratings} ratings in {result.wall_s:.1f} s "
          f"({result.ratings / result.wall_s:.1f} ratings/s): {result.ratings} acknowledged, "
          f"{stored} stored, {result.ratings - stored} lost, {len(result.errors)} errors")
    print(result.table().round(1).to_string(index=False))
    print(flood.round(2).to_string(index=False))
    print(pd.DataFrame(memory, columns=["server memory", "rss_mb", "peak_rss_mb"])
          .round(0).to_string(index=False))


def _empty_postgres(url: str) -> None:
    """Drop the reader-study tables of a PostgreSQL database (a fresh benchmark)."""
    from sqlalchemy import text

    from livermets.readers.db import make_engine
    from livermets.readers.models import Base

    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


if __name__ == "__main__":
    main()
