"""Fixtures of the reader-study tests: a tiny synthetic cohort with model predictions, a study
file, a database (SQLite, or PostgreSQL when LIVERMETS_TEST_PG is set) and live servers."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ADMIN_PASSWORD = "admin-pass-123"
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 256, "parallelism": 1}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def study_run_predictions(truth: pd.DataFrame, seed: int, repeats: int = 2,
                          model: str = "radiomics_lr") -> pd.DataFrame:
    """Predictions written exactly as `livermets study run` writes them (class names in y_true,
    y_prob of the positive class), from the cohort's truth table."""
    from livermets.models.validation import FeatureData, Fold, FoldOutcome, predictions_table

    classes = ["hemangioma", "metastasis"]  # sorted, positive (data.positive) last
    y = (truth["label"] == "metastasis").astype(int).to_numpy()
    n = len(y)
    data = FeatureData(X=pd.DataFrame(index=range(n)), y=y, classes=classes,
                       patient_id=truth["patient_id"].astype(str).to_numpy(),
                       lesion_id=truth["lesion_label"].to_numpy())
    rng = np.random.default_rng(seed)
    outcomes = []
    for repeat in range(repeats):
        p1 = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.15, n), 0.01, 0.99)
        fold = Fold(repeat=repeat, fold=0, train=np.arange(n), test=np.arange(n))
        outcomes.append(FoldOutcome(model=model, fold=fold, prob=np.column_stack([1 - p1, p1]),
                                    threshold=0.5, features=[], params={}, inner_auc=0.5))
    return predictions_table(outcomes, data)


@pytest.fixture(scope="session")
def reader_cohort(tmp_path_factory) -> tuple[Path, Path]:
    """A 4-patient CT cohort (7 lesions, both classes) and predictions of one model."""
    from livermets.synth import generate_cohort, make_config

    root = tmp_path_factory.mktemp("readers-cohort")
    cohort = generate_cohort(make_config("crlm-vs-hemangioma", 4, 1, scale=2.5),
                             root / "cohort", workers=1)
    truth = pd.read_csv(cohort.truth)
    preds = study_run_predictions(truth, seed=0)
    preds_path = root / "predictions.parquet"
    preds.to_parquet(preds_path, index=False)
    return cohort.manifest, preds_path


@pytest.fixture
def study_file(reader_cohort, tmp_path, monkeypatch) -> Path:
    """READER_STUDY.yaml next to the cohort, with the admin password in the environment."""
    manifest, preds = reader_cohort
    monkeypatch.setenv("LIVERMETS_READERS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    path = tmp_path / "reader_study.yaml"
    path.write_text(yaml.safe_dump({
        "cohort": str(manifest), "predictions": str(preds), "model": "radiomics_lr",
        "question": "Metastasis or hemangioma?", "positive_label": "metastasis",
        "scale": "probability", "washout_days": 0, "seed": 7, "admin": {"username": "admin"},
        **({"secret_file": str(tmp_path / "readers.key")}
           if os.environ.get("LIVERMETS_TEST_PG") else {})}))
    return path


def fast_passwords():
    """argon2id with tiny costs, so tests with many logins stay quick."""
    from argon2 import PasswordHasher

    from livermets.readers.auth import Passwords

    return Passwords(PasswordHasher(**FAST_ARGON2))


@pytest.fixture
def db_url(tmp_path) -> str:
    """A fresh database: SQLite in tmp_path, or an emptied PostgreSQL from LIVERMETS_TEST_PG."""
    pg = os.environ.get("LIVERMETS_TEST_PG")
    if not pg:
        return f"sqlite:///{tmp_path / 'readers.db'}"
    from sqlalchemy import text

    from livermets.readers.db import make_engine
    from livermets.readers.models import Base

    engine = make_engine(pg)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return pg


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A uvicorn server in a background thread on a random loopback port."""

    def __init__(self, app) -> None:
        import uvicorn

        from livermets.readers.server import uvicorn_config

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port,
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.engine.dispose()
        self.app.state.passwords.close()
        self.app.state.regions.close()


@pytest.fixture
def live(study_file, db_url):
    """A running reader-study server (admin account from the study file)."""
    from livermets.readers import create_app, load_study_file

    with LiveServer(create_app(load_study_file(study_file), db_url,
                               passwords=fast_passwords())) as server:
        yield server


class FakeClock:
    """A clock (seconds since the epoch) that tests move forward by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def make_live(study_file, db_url):
    """Start servers with chosen app settings: ``make_live(clock=..., passwords=...)``."""
    from contextlib import ExitStack

    from livermets.readers import create_app, load_study_file
    from livermets.readers.throttle import LoginThrottle

    with ExitStack() as stack:

        def start(**settings) -> LiveServer:
            settings.setdefault("passwords", fast_passwords())
            # refusals are answered at once unless a test asks for the tarpit (real seconds)
            settings.setdefault("throttle", LoginThrottle(settings.get("clock") or time.time,
                                                          refusal_delay_s=0))
            app = create_app(load_study_file(study_file), db_url, **settings)
            return stack.enter_context(LiveServer(app))

        yield start


def csrf_of(html: str) -> str:
    """The CSRF token of a page's first form."""
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def login(client, username: str, password: str) -> str:
    """Log an httpx client in; returns the session's CSRF token for JSON writes."""
    page = client.get("/login")
    resp = client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 303, resp.text
    return client.get("/api/me").json()["csrf"]


def create_study_http(client, name: str, readers: list[tuple[str, str]], **extra) -> int:
    """Create a study through the admin form; returns its id."""
    page = client.get("/admin")
    form = {"name": name, "question": "Metastasis or hemangioma?", "model": "radiomics_lr",
            "scale": "probability", "washout_days": "0", "seed": "7",
            "readers": "\n".join(f"{u} {p}" for u, p in readers),
            "csrf_token": csrf_of(page.text), **extra}
    resp = client.post("/admin/studies", data=form)
    assert resp.status_code == 303, resp.text
    return int(resp.headers["location"].rsplit("/", 1)[1])


@contextlib.contextmanager
def admin_and_reader(url: str, study: str, reader: tuple[str, str]):
    """An admin client and a logged-in reader client of a new study named ``study``."""
    import httpx

    admin = httpx.Client(base_url=url)
    login(admin, "admin", ADMIN_PASSWORD)
    create_study_http(admin, study, [reader])
    client = httpx.Client(base_url=url)
    client.headers["X-CSRF-Token"] = login(client, *reader)
    try:
        yield admin, client
    finally:
        admin.close()
        client.close()
