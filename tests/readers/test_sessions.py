"""Sessions: logout revokes, absolute and idle lifetimes, Secure over HTTPS, and the signing
secret kept out of the database (environment or a 0600 key file, rotation logs everyone out)."""

from __future__ import annotations

import json
import stat
from base64 import b64encode
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from livermets.errors import ConfigError
from livermets.readers import create_app, load_study_file
from livermets.readers.models import Meta
from livermets.readers.secret import read_key_file
from tests.readers.conftest import ADMIN_PASSWORD, FakeClock, LiveServer, fast_passwords, login


def _db_file(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite:///"))


# key-file defaults are per SQLite file; `make test-pg` deselects it
pytestmark = pytest.mark.sqlite_only


def test_logout_revokes_the_session(make_live):
    """A cookie replayed after logout is refused."""
    live = make_live()
    with httpx.Client(base_url=live.url) as admin:
        token = login(admin, "admin", ADMIN_PASSWORD)
        cookie = admin.cookies["livermets_session"]
        resp = admin.post("/logout", data={"csrf_token": token})
        assert resp.status_code == 303
    with httpx.Client(base_url=live.url, cookies={"livermets_session": cookie}) as replay:
        assert replay.get("/api/me").status_code == 401
        assert replay.get("/admin").headers["location"] == "/login"


def test_absolute_lifetime_ends_an_active_session(make_live):
    """Activity slides the idle limit (12 h), but not past the absolute lifetime (24 h)."""
    clock = FakeClock()
    live = make_live(clock=clock)
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        for _ in range(4):  # active every 5 h: 20 h in all
            clock.advance(5 * 3600)
            assert admin.get("/api/me").status_code == 200
        clock.advance(5 * 3600)  # 25 h after login, 5 h after the last request
        assert admin.get("/api/me").status_code == 401


def test_idle_session_expires(make_live):
    """A session unused for longer than the idle limit is refused."""
    clock = FakeClock()
    live = make_live(clock=clock)
    with httpx.Client(base_url=live.url) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        clock.advance(11 * 3600)
        assert admin.get("/api/me").status_code == 200
        clock.advance(12 * 3600 + 400)
        assert admin.get("/api/me").status_code == 401


def test_cookie_flags_and_secure_behind_tls_proxy(make_live):
    """HttpOnly and SameSite always; Secure when the trusted proxy says HTTPS."""
    live = make_live()
    with httpx.Client(base_url=live.url) as client:
        plain = client.get("/login").headers["set-cookie"]
        assert "HttpOnly" in plain and "SameSite=Strict" in plain and "Secure" not in plain
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-Proto": "https"}) as client:
        resp = client.get("/login")
        assert "; Secure" in resp.headers["set-cookie"]
        assert "max-age" in resp.headers["strict-transport-security"]


def test_secret_is_a_0600_key_file_not_in_the_database(study_file, db_url, monkeypatch):
    """Without the environment variable the secret goes to FILE.db.key (0600), never to meta."""
    monkeypatch.delenv("LIVERMETS_READERS_SECRET", raising=False)
    with LiveServer(create_app(load_study_file(study_file), db_url,
                               passwords=fast_passwords())) as live:
        key = Path(str(_db_file(db_url)) + ".key")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        secret = key.read_text().strip()
        with live.app.state.factory() as db:
            values = [m.value for m in db.scalars(select(Meta))]
        assert values and all(secret not in v for v in values)
        with httpx.Client(base_url=live.url) as admin:
            login(admin, "admin", ADMIN_PASSWORD)
            assert admin.get("/api/me").status_code == 200
            cookie = admin.cookies["livermets_session"]
    # rotating the key (delete the file: a new one is made) ends every session
    key.unlink()
    with LiveServer(create_app(load_study_file(study_file), db_url,
                               passwords=fast_passwords())) as live:
        assert key.read_text().strip() != secret
        with httpx.Client(base_url=live.url, cookies={"livermets_session": cookie}) as old:
            assert old.get("/api/me").status_code == 401


def test_key_file_readable_by_others_is_refused(tmp_path):
    """A key file with group or other permissions is refused, naming the fix."""
    path = tmp_path / "k.key"
    path.write_text("x" * 64)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_key_file(path)


def test_environment_secret_and_rotation(study_file, db_url, monkeypatch):
    """LIVERMETS_READERS_SECRET is used when set; a new value ends old sessions."""
    monkeypatch.setenv("LIVERMETS_READERS_SECRET", "a" * 40)
    with LiveServer(create_app(load_study_file(study_file), db_url,
                               passwords=fast_passwords())) as live:
        assert not Path(str(_db_file(db_url)) + ".key").exists()
        with httpx.Client(base_url=live.url) as admin:
            login(admin, "admin", ADMIN_PASSWORD)
            cookie = admin.cookies["livermets_session"]
    monkeypatch.setenv("LIVERMETS_READERS_SECRET", "b" * 40)
    app = create_app(load_study_file(study_file), db_url, passwords=fast_passwords())
    with LiveServer(app) as live, httpx.Client(base_url=live.url,
                                               cookies={"livermets_session": cookie}) as old:
        assert old.get("/api/me").status_code == 401
    monkeypatch.setenv("LIVERMETS_READERS_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(load_study_file(study_file), db_url)


def test_stored_secret_of_old_databases_is_removed(study_file, db_url):
    """The 0002 migration deletes meta.secret; a cookie forged with it does not reach /admin."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from livermets.readers.db import MIGRATIONS, make_engine

    engine = make_engine(db_url)  # a database as the previous version left it
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO meta VALUES ('secret', :s)"), {"s": "old-secret" * 5})
    engine.dispose()
    with LiveServer(create_app(load_study_file(study_file), db_url,
                               passwords=fast_passwords())) as live:
        with live.app.state.factory() as db:
            assert db.get(Meta, "secret") is None
        forged = TimestampSigner("old-secret" * 5).sign(
            b64encode(json.dumps({"uid": 1}).encode())).decode()
        with httpx.Client(base_url=live.url, cookies={"livermets_session": forged}) as eve:
            assert eve.get("/admin").headers.get("location") == "/login"
            assert eve.get("/api/me").status_code == 401
