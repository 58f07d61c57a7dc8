"""Alembic migrations of the reader-study database (env and versions ship with the package)."""
