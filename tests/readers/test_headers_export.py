"""Response headers (CSP without inline script, no referrer, no caching, no server banner) and
formula-safe CSV exports."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.readers import register
from livermets.readers.export import neutralise_formulas
from tests.readers.conftest import admin_and_reader

READER = ("lea", "lea-password-1")
FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.fixture
def clients(live):
    """An admin and a reader of one study."""
    with admin_and_reader(live.url, "headers", READER) as pair:
        yield pair


def test_security_headers_on_every_answer(clients):
    """Pages and API answers: strict CSP, no-store, no referrer, no server banner."""
    admin, reader = clients
    answers = [admin.get("/login"), admin.get("/admin"), admin.get("/admin/studies/1"),
               reader.get("/read"), reader.get("/read/0"), reader.get("/api/me"),
               reader.get("/api/sessions/0/current"), reader.get("/api/images/999/0.png")]
    for resp in answers:
        csp = resp.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp, resp.url
        assert resp.headers["cache-control"] == "no-store", resp.url
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert resp.headers["x-frame-options"] == "DENY"
        assert "server" not in resp.headers, resp.url


def test_pages_have_no_inline_script_or_style(clients):
    """Every script is a static file (the CSP would block inline ones)."""
    admin, reader = clients
    for html in (admin.get("/login").text, admin.get("/admin").text, reader.get("/read").text,
                 reader.get("/read/0").text, reader.get("/account/password").text):
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html
    js = reader.get("/static/read.js")
    assert js.status_code == 200 and "slider" in js.text
    assert reader.get("/static/readers.css").status_code == 200


def test_formula_comments_are_neutralised_in_csv(live, clients, db_url, tmp_path):
    """Comments starting with = + - @ tab or CR get a leading quote in both CSV exports; the
    JSON API keeps them as typed."""
    admin, reader = clients
    for comment in FORMULAS:
        current = reader.get("/api/sessions/0/current").json()
        resp = reader.post("/api/ratings", json={"assignment_id": current["assignment_id"],
                                                 "rating": 10, "comment": comment})
        assert resp.status_code == 201
    rows = admin.get("/api/admin/studies/1/ratings").json()
    assert sorted(r["comment"] for r in rows) == sorted(FORMULAS)
    download = admin.get("/admin/studies/1/ratings.csv")
    assert download.headers["cache-control"] == "no-store"
    web = pd.read_csv(io.StringIO(download.text), keep_default_na=False)
    assert sorted(web["comment"]) == sorted("'" + c for c in FORMULAS)
    app = new_app("test")
    register(app)
    out = tmp_path / "ratings.csv"
    result = CliRunner().invoke(app, ["readers", "export", "--db", db_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(out, keep_default_na=False)
    assert sorted(cli["comment"]) == sorted("'" + c for c in FORMULAS)
    assert cli["rating"].dtype.kind == "f"  # numbers stay numbers


def test_neutralise_formulas_keeps_plain_text_and_numbers():
    """Only text cells that start like a formula change."""
    frame = pd.DataFrame({"comment": ["ok", "=1", "", None, "a-b"], "rating": [-1.0] * 5})
    out = neutralise_formulas(frame)
    assert out["comment"].tolist() == ["ok", "'=1", "", None, "a-b"]
    assert out["rating"].tolist() == [-1.0] * 5 and frame["comment"][1] == "=1"
