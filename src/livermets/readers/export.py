"""Exporting ratings: one row per reader x session x case with truth and reading time."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from livermets._atomic import atomic_path, write_table
from livermets.errors import ConfigError, DataError
from livermets.readers.models import Assignment, Case, Rating, ReadingSession, Study, User

COLUMNS = ["study", "reader", "modality", "case", "truth", "rating", "time_s", "size_group",
           "diameter_mm", "position", "comment", "rated_at"]


def ratings_frame(db: Session, study: str | None = None) -> pd.DataFrame:
    """All ratings (of one study when several exist) as the export table."""
    names = list(db.scalars(select(Study.name).order_by(Study.id)))
    if study is None:
        if len(names) > 1:
            raise ConfigError(f"the database holds several studies {names}; pick one with "
                              "--study NAME.")
        study = names[0] if names else None
    elif study not in names:
        raise ConfigError(f"no study named {study!r} in the database; studies: {names}")
    rows = db.execute(
        select(Study.name, User.username, ReadingSession.name, Case.key, Case.truth,
               Rating.rating, Rating.time_spent_s, Case.size_group, Case.diameter_mm,
               Assignment.position, Rating.comment, Rating.created_at)
        .select_from(Rating).join(Assignment, Rating.assignment_id == Assignment.id)
        .join(User, Assignment.reader_id == User.id)
        .join(ReadingSession, Assignment.session_id == ReadingSession.id)
        .join(Case, Assignment.case_id == Case.id).join(Study, Case.study_id == Study.id)
        .where(Study.name == study)
        .order_by(User.username, ReadingSession.index, Assignment.position)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=COLUMNS)
    frame["position"] = frame["position"] + 1
    frame["rated_at"] = pd.to_datetime(frame["rated_at"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells that a spreadsheet would run as a formula start with a quote."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return out


def ratings_csv(frame: pd.DataFrame) -> str:
    """The export table as CSV text, safe to open in a spreadsheet (every text cell quoted, so
    a carriage return inside a comment cannot split a row)."""
    return neutralise_formulas(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)


def export_ratings(db_url: str, out: str | Path, study: str | None = None) -> pd.DataFrame:
    """Write the ratings of a study database to CSV (formula-safe) or Parquet, atomically."""
    from livermets.readers.db import make_engine, migrate, session_factory

    engine = make_engine(db_url)
    try:
        migrate(engine)
        with session_factory(engine)() as db:
            frame = ratings_frame(db, study)
    finally:
        engine.dispose()
    if frame.empty:
        raise DataError("the study has no ratings yet; nothing to export.")
    if Path(out).suffix != ".csv":
        write_table(frame, Path(out))  # Parquet: no spreadsheet formulas
        return frame
    with atomic_path(Path(out)) as tmp:
        Path(tmp).write_text(ratings_csv(frame), encoding="utf-8")
    return frame
