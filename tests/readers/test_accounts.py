"""Admin password rotation at start, the change-password page and a masked database URL."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.readers import register
from livermets.errors import ConfigError
from livermets.readers import create_app, load_study_file
from livermets.readers.server import masked_url
from tests.readers.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_study_http,
    csrf_of,
    fast_passwords,
    login,
)

NEW_ADMIN = "a-new-admin-password"


def _status(url: str, username: str, password: str) -> int:
    with httpx.Client(base_url=url) as client:
        page = client.get("/login")
        return client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_of(page.text)}).status_code


def _serve(study_file, db_url) -> LiveServer:
    return LiveServer(create_app(load_study_file(study_file), db_url, passwords=fast_passwords()))


def _change(client: httpx.Client, current: str, new: str, confirm: str | None = None):
    page = client.get("/account/password")
    assert page.status_code == 200
    return client.post("/account/password", data={
        "current_password": current, "new_password": new,
        "confirm_password": new if confirm is None else confirm,
        "csrf_token": csrf_of(page.text)})


def test_new_environment_password_replaces_the_old(study_file, db_url, monkeypatch):
    """Restarting with a new admin password: the new one works, the old one no longer."""
    with _serve(study_file, db_url) as live, httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        cookie = admin.cookies["livermets_session"]
    monkeypatch.setenv("LIVERMETS_READERS_ADMIN_PASSWORD", NEW_ADMIN)
    with _serve(study_file, db_url) as live:
        assert _status(live.url, "admin", NEW_ADMIN) == 303
        assert _status(live.url, "admin", ADMIN_PASSWORD) == 401
        with httpx.Client(base_url=live.url, cookies={"livermets_session": cookie}) as old:
            assert old.get("/api/me").status_code == 401  # rotation ends admin sessions


def test_admin_password_needs_twelve_characters(study_file, db_url, monkeypatch):
    """A short admin password is refused at start."""
    monkeypatch.setenv("LIVERMETS_READERS_ADMIN_PASSWORD", "elevenchars")
    with pytest.raises(ConfigError, match="12 characters"):
        create_app(load_study_file(study_file), db_url)


def test_change_password_page(study_file, db_url):
    """Wrong current password 403, short or mismatched new one 422; a change ends the
    account's other sessions, keeps this one and survives a restart with the same env."""
    with _serve(study_file, db_url) as live:
        admin, other = httpx.Client(base_url=live.url), httpx.Client(base_url=live.url)
        login(admin, "admin", ADMIN_PASSWORD)
        login(other, "admin", ADMIN_PASSWORD)
        assert _change(admin, "wrong-password-x", NEW_ADMIN).status_code == 403
        assert _change(admin, ADMIN_PASSWORD, "short-pw").status_code == 422
        assert _change(admin, ADMIN_PASSWORD, NEW_ADMIN, "something-else-1").status_code == 422
        resp = _change(admin, ADMIN_PASSWORD, NEW_ADMIN)
        assert resp.status_code == 200 and 'id="password-done"' in resp.text
        assert admin.get("/api/me").status_code == 200
        assert other.get("/api/me").status_code == 401
        admin.close()
        other.close()
        assert _status(live.url, "admin", ADMIN_PASSWORD) == 401
        assert _status(live.url, "admin", NEW_ADMIN) == 303
    with _serve(study_file, db_url) as live:  # same environment password: the change stays
        assert _status(live.url, "admin", NEW_ADMIN) == 303


def test_readers_change_their_password(live):
    """Readers use the same page; reader passwords at creation need 12 characters."""
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        page = admin.get("/admin")
        short = admin.post("/admin/studies", data={
            "name": "short", "model": "radiomics_lr", "readers": "gus gus-pass",
            "csrf_token": csrf_of(page.text)})
        assert short.status_code == 400 and "12 characters" in short.text
        create_study_http(admin, "accounts", [("gus", "gus-password-1")])
    with httpx.Client(base_url=live.url) as gus:
        login(gus, "gus", "gus-password-1")
        assert _change(gus, "gus-password-1", "gus-password-2").status_code == 200
    assert _status(live.url, "gus", "gus-password-2") == 303


def test_serve_masks_the_database_password(monkeypatch, tmp_path):
    """`readers serve` prints the database URL without its password."""
    import uvicorn

    import livermets.readers as readers

    assert "s3cret" not in masked_url("postgresql://bob:s3cret@db.example/readers")
    monkeypatch.setattr(readers, "create_app", lambda study, db: object())
    monkeypatch.setattr(readers, "load_study_file", lambda path: None)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    app = new_app("test")
    register(app)
    result = CliRunner().invoke(app, ["readers", "serve", "--study", str(tmp_path / "s.yaml"),
                                      "--db", "postgresql://bob:s3cret@db.example/readers"])
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output and "bob:***@db.example" in result.output
