"""Creating a study never holds the database write lock while building cases or hashing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

import livermets.readers.study as study_module
from tests.readers.conftest import ADMIN_PASSWORD, create_study_http, login

# probes SQLite's write lock; `make test-pg` deselects it
pytestmark = pytest.mark.sqlite_only


def _can_write(db_file: Path) -> bool:
    """Whether another connection could take the write lock right now."""
    conn = sqlite3.connect(db_file, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def test_slow_work_runs_outside_the_write_transaction(live, db_url, monkeypatch):
    """Lesion tables and password hashes are made while other writers can still write."""
    db_file = Path(db_url.removeprefix("sqlite:///"))
    probes: list[tuple[str, bool]] = []
    case_table = study_module.case_table
    passwords = live.app.state.passwords
    hash_password = passwords.hash

    def probed_cases(*args, **kwargs):
        probes.append(("cases", _can_write(db_file)))
        return case_table(*args, **kwargs)

    def probed_hash(password: str) -> str:
        probes.append(("hash", _can_write(db_file)))
        return hash_password(password)

    monkeypatch.setattr(study_module, "case_table", probed_cases)
    monkeypatch.setattr(passwords, "hash", probed_hash)
    readers = [(f"r{i:02d}", f"password-{i:04d}") for i in range(5)]
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        create_study_http(admin, "lock study", readers)
    assert [p[0] for p in probes] == ["cases"] + ["hash"] * 5
    assert all(ok for _, ok in probes), probes


def test_ratings_are_saved_while_a_study_is_being_created(live, monkeypatch):
    """A reader's rating is saved while a (slow) study creation is under way."""
    passwords = live.app.state.passwords
    hash_password = passwords.hash
    started = threading.Event()

    def slow_hash(password: str) -> str:
        started.set()
        time.sleep(0.15)
        return hash_password(password)

    with httpx.Client(base_url=live.url, timeout=60) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        create_study_http(admin, "first", [("hal", "hal-password-1")])
        with httpx.Client(base_url=live.url) as hal:
            hal.headers["X-CSRF-Token"] = login(hal, "hal", "hal-password-1")
            current = hal.get("/api/sessions/0/current").json()
            monkeypatch.setattr(passwords, "hash", slow_hash)
            creating = threading.Thread(target=create_study_http, args=(
                admin, "second", [(f"s{i:02d}", f"password-{i:04d}") for i in range(10)]))
            creating.start()
            assert started.wait(30)
            t0 = time.perf_counter()
            resp = hal.post("/api/ratings", json={"assignment_id": current["assignment_id"],
                                                  "rating": 60})
            saved_in = time.perf_counter() - t0
            still_creating = creating.is_alive()
            creating.join()
    assert resp.status_code == 201
    assert still_creating and saved_in < 1.0  # creation takes >= 1.5 s of hashing
