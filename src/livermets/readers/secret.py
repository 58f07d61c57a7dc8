"""The cookie-signing secret: from the environment or a key file readable by its owner only."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from livermets.errors import ConfigError

MIN_SECRET = 32


def default_key_file(db_url: str) -> Path | None:
    """``FILE.db.key`` beside a SQLite database file; None for PostgreSQL or in-memory."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db_file = Path(url.database)
        return db_file.with_name(db_file.name + ".key")
    return None


def read_key_file(path: Path) -> str:
    """The secret in ``path``, created (mode 0600) if missing; refused if others may read it."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it just now
        else:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the key file {path} may be read by other users (mode "
                          f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_SECRET:
        raise ConfigError(f"the key file {path} holds fewer than {MIN_SECRET} characters; "
                          "delete it to have a new one made (this logs everybody out).")
    return value


def load_secret(env_name: str, key_file: Path | None, db_url: str) -> str:
    """The secret from ``$env_name``, else ``key_file``, else the file beside the database."""
    value = os.environ.get(env_name, "")
    if value:
        if len(value) < MIN_SECRET:
            raise ConfigError(f"{env_name} must hold at least {MIN_SECRET} characters.")
        return value
    path = key_file or default_key_file(db_url)
    if path is None:
        raise ConfigError(f"set {env_name} (at least {MIN_SECRET} random characters) or "
                          "secret_file: in the study file; a PostgreSQL database has no "
                          "folder to keep the key file in.")
    return read_key_file(path)
