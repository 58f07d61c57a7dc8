"""Study logic: seeded case orders, washout, rating scales, study-file errors, export CLI."""

from __future__ import annotations

import datetime as dt

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.readers import register
from livermets.errors import ConfigError
from livermets.readers import load_study_file
from livermets.readers.models import Rating
from livermets.readers.study import case_order, parse_readers
from tests.readers.conftest import ADMIN_PASSWORD, create_study_http, login


def test_case_orders_are_seeded_permutations():
    """Same seed, reader and session give the same order; others differ."""
    a = case_order(7, 0, 0, 30)
    assert np.array_equal(a, case_order(7, 0, 0, 30))
    assert sorted(a) == list(range(30))
    assert not np.array_equal(a, case_order(7, 0, 1, 30))
    assert not np.array_equal(a, case_order(7, 1, 0, 30))
    assert not np.array_equal(a, case_order(8, 0, 0, 30))


@pytest.mark.parametrize(("text", "message"), [
    ("", "at least one reader"),
    ("alice", "username password"),
    ("alice pw1234567\nalice pw7654321", "unique"),
    ("al/../ice pw1234567", "not allowed"),
])
def test_reader_lines_are_checked(text, message):
    """Bad reader lists raise ConfigError saying what to fix."""
    with pytest.raises(ConfigError, match=message):
        parse_readers(text)


@pytest.mark.parametrize(("change", "message"), [
    ({"scale": "ten-point"}, "scale"),
    ({"washout_days": -1}, "washout_days"),
    ({"cohort": "missing.csv"}, "does not exist"),
    ({"unknown": 1}, "unknown"),
])
def test_study_file_errors(study_file, change, message):
    """Invalid study files raise ConfigError naming the problem."""
    raw = yaml.safe_load(study_file.read_text())
    raw.update(change)
    study_file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_study_file(study_file)


def test_admin_password_is_required(study_file, db_url, monkeypatch):
    """The server refuses to start without an admin password in the environment."""
    from livermets.readers import create_app

    monkeypatch.delenv("LIVERMETS_READERS_ADMIN_PASSWORD")
    with pytest.raises(ConfigError, match="LIVERMETS_READERS_ADMIN_PASSWORD"):
        create_app(load_study_file(study_file), db_url)


def _finish_session(client, index: int) -> int:
    n = 0
    while not (cur := client.get(f"/api/sessions/{index}/current").json())["done"]:
        assert client.post("/api/ratings", json={"assignment_id": cur["assignment_id"],
                                                 "rating": 3}).status_code == 201
        n += 1
    return n


def test_washout_and_five_point_scale(live):
    """The AI session opens washout days after the last rating of the first session."""
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        create_study_http(admin, "washout", [("dora", "dora-pass-123")], washout_days="14",
                          scale="five-point")
    with httpx.Client(base_url=live.url) as dora:
        dora.headers["X-CSRF-Token"] = login(dora, "dora", "dora-pass-123")
        cur = dora.get("/api/sessions/0/current").json()
        assert cur["scale"] == "five-point"
        for bad in (0, 6, 2.5, "x", None):
            assert dora.post("/api/ratings", json={"assignment_id": cur["assignment_id"],
                                                   "rating": bad}).status_code == 422
        assert _finish_session(dora, 0) == 7
        sessions = dora.get("/api/sessions").json()
        assert sessions[1]["available"] is False and sessions[1]["available_from"]
        assert dora.get("/api/sessions/1/current").json()["locked"] is True
        assert "washout" in dora.get("/read/1").text
        with live.app.state.factory.begin() as db:  # 15 days pass
            for row in db.scalars(select(Rating)):
                row.created_at -= dt.timedelta(days=15)
        cur = dora.get("/api/sessions/1/current").json()
        assert cur["locked"] is False and 0 < cur["ai_probability"] < 1
        assert _finish_session(dora, 1) == 7
    with live.app.state.factory() as db:
        assert len(db.scalars(select(Rating)).all()) == 14


def test_export_cli_errors_and_output(live, db_url, tmp_path):
    """Export refuses an empty study, then writes one row per rating."""
    app = new_app("test")
    register(app)
    runner = CliRunner()
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        create_study_http(admin, "export", [("erin", "erin-pass-123")])
    out = tmp_path / "ratings.csv"
    result = runner.invoke(app, ["readers", "export", "--db", db_url, "--out", str(out)])
    assert result.exit_code == 2 and "no ratings" in result.output
    result = runner.invoke(app, ["readers", "export", "--db", db_url, "--out", str(out),
                                 "--study", "nope"])
    assert result.exit_code == 2 and "no study named" in result.output
    with httpx.Client(base_url=live.url) as erin:
        erin.headers["X-CSRF-Token"] = login(erin, "erin", "erin-pass-123")
        _finish_session(erin, 0)
    result = runner.invoke(app, ["readers", "export", "--db", db_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame) == 7 and set(frame["modality"]) == {"without-ai"}
    assert list(frame.columns[:7]) == ["study", "reader", "modality", "case", "truth", "rating",
                                       "time_s"]
    assert frame["truth"].sum() == 4  # 4 metastases, 3 hemangiomas in the cohort
