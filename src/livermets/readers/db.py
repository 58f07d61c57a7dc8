"""Database connection: URL checks, engines (SQLite WAL or PostgreSQL) and Alembic upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from livermets.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL from ``sqlite:///file.db``, a bare path or ``postgresql://...``."""
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"--db {url!r} is not a database URL; use sqlite:///FILE.db or "
                          "postgresql://user:password@host/dbname.") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"--db must be a SQLite or PostgreSQL URL, got backend {backend!r}.")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for writes."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        db_file = make_url(url).database
        if db_file and db_file != ":memory:":
            Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=40)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let the "begin" hook below open transactions
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        return create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConfigError("PostgreSQL needs the psycopg driver: pip install 'psycopg[binary]'."
                          ) from exc


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False)
                        .replace("%", "%%"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise ConfigError(f"cannot open database {engine.url!r}: {exc.orig}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def begin_write(db: Session) -> None:
    """End the session's read transaction and start one that will write (SQLite: take the
    write lock now, so a read snapshot is never upgraded under concurrent writers)."""
    db.commit()
    db.connection(execution_options={"sqlite_immediate": True})
