"""Alembic revision scripts, applied in order by ``livermets.readers.db.migrate``."""
