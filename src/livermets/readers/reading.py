"""The reading flow: session availability (washout), the current case, rating checks and saving."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from livermets.readers.db import begin_write
from livermets.readers.models import Assignment, Rating, ReadingSession, User, utcnow

MAX_SECONDS = 24 * 3600.0


def session_state(db: Session, reader: User, session: ReadingSession,
                  washout_days: float) -> dict[str, Any]:
    """Progress and availability of one session for one reader."""
    total = db.scalar(select(func.count(Assignment.id)).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id)) or 0
    done = db.scalar(select(func.count(Rating.id)).join(Assignment).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id)) or 0
    state: dict[str, Any] = {"index": session.index, "name": session.name,
                             "with_ai": session.with_ai, "total": total, "done": done,
                             "available": True, "available_from": None}
    if session.index > 0:
        previous = next(s for s in session.study.sessions if s.index == session.index - 1)
        prev_total = db.scalar(select(func.count(Assignment.id)).where(
            Assignment.reader_id == reader.id, Assignment.session_id == previous.id)) or 0
        prev_done, last = db.execute(select(func.count(Rating.id), func.max(Rating.created_at))
                                     .join(Assignment).where(
            Assignment.reader_id == reader.id, Assignment.session_id == previous.id)).one()
        if prev_done < prev_total:
            state["available"] = False
        else:
            opens = last + dt.timedelta(days=washout_days)
            state["available_from"] = opens.strftime("%Y-%m-%d %H:%M UTC")
            state["available"] = utcnow() >= opens
    return state


def current_assignment(db: Session, reader: User, session: ReadingSession) -> Assignment | None:
    """The first case of the reader's order in ``session`` that has no rating yet."""
    rated = select(Rating.assignment_id)
    return db.scalar(select(Assignment).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id,
        Assignment.id.not_in(rated)).order_by(Assignment.position).limit(1))


def next_assignment(db: Session, reader: User, session: ReadingSession,
                    current: Assignment) -> Assignment | None:
    """The unrated case that follows ``current`` in the reader's order, if any."""
    rated = select(Rating.assignment_id)
    return db.scalar(select(Assignment).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id,
        Assignment.position > current.position, Assignment.id.not_in(rated))
        .order_by(Assignment.position).limit(1))


def parse_rating(value: Any, scale: str) -> float:
    """A rating on the study's scale, or HTTP 422."""
    if isinstance(value, bool):
        raise HTTPException(422, "the rating must be a number, not true/false")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HTTPException(422, "the rating must be a number") from None
    if not math.isfinite(number):
        raise HTTPException(422, "the rating must be a finite number")
    if scale == "probability" and not 0 <= number <= 100:
        raise HTTPException(422, "the rating must lie between 0 and 100")
    if scale == "five-point" and (number not in (1, 2, 3, 4, 5)):
        raise HTTPException(422, "the rating must be 1, 2, 3, 4 or 5")
    return number


def existing_rating(db: Session, assignment_id: int) -> Rating | None:
    """The stored rating of an assignment, if any."""
    return db.scalar(select(Rating).where(Rating.assignment_id == assignment_id))


def save_rating(db: Session, reader: User, assignment_id: int, value: Any,
                comment: str) -> Rating:
    """Store the rating of the reader's current case (HTTP 403/409/422 when not allowed)."""
    begin_write(db)
    assignment = db.get(Assignment, assignment_id)
    if assignment is None or assignment.reader_id != reader.id:
        raise HTTPException(404, "no such case in your reading list")
    session = assignment.session
    study = session.study
    rating = parse_rating(value, study.scale)
    if len(comment) > 2000:
        raise HTTPException(422, "comments are limited to 2000 characters")
    if existing_rating(db, assignment.id) is not None:
        raise HTTPException(409, "this case is rated already")
    if not session_state(db, reader, session, study.washout_days)["available"]:
        raise HTTPException(409, "this session is not open yet")
    current = current_assignment(db, reader, session)
    if current is None or current.id != assignment.id:
        raise HTTPException(409, "rate the cases in the order shown")
    opened = assignment.opened_at or utcnow()
    spent = min(max((utcnow() - opened).total_seconds(), 0.0), MAX_SECONDS)
    row = Rating(assignment_id=assignment.id, rating=rating, comment=comment,
                 time_spent_s=spent)
    db.add(row)
    db.flush()
    return row
