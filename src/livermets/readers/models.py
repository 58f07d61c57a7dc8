"""Database tables of the reader-study app (SQLAlchemy 2 ORM); the schema is owned by Alembic."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """The current time in UTC, without tzinfo (stored the same way in SQLite and PostgreSQL)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of the reader-study tables."""


class Meta(Base):
    """Key-value settings of one database (never the cookie-signing secret)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Study(Base):
    """A reader study: question, rating scale, sessions, washout and the seed of case orders."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    question: Mapped[str] = mapped_column(Text)
    scale: Mapped[str] = mapped_column(String(20))
    washout_days: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    positive_label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sessions: Mapped[list[ReadingSession]] = relationship(
        back_populates="study", order_by="ReadingSession.index")


class User(Base):
    """An account: role ``admin`` or ``reader`` (a reader belongs to one study)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuthSession(Base):
    """A login session: the SHA-256 of its token, its user and when it ends (absolute)."""

    __tablename__ = "auth_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class Case(Base):
    """One lesion to read: where its image is, its truth and the model's probability."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("study_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    patient_id: Mapped[str] = mapped_column(String(100))
    lesion_id: Mapped[str] = mapped_column(String(50))
    truth: Mapped[int] = mapped_column(Integer)
    size_group: Mapped[str] = mapped_column(String(30))
    diameter_mm: Mapped[float] = mapped_column(Float)
    ai_probability: Mapped[float] = mapped_column(Float)
    image_path: Mapped[str] = mapped_column(Text)
    mask_path: Mapped[str] = mapped_column(Text)
    source_label: Mapped[int] = mapped_column(Integer)
    k0: Mapped[int] = mapped_column(Integer)
    k1: Mapped[int] = mapped_column(Integer)
    j0: Mapped[int] = mapped_column(Integer)
    j1: Mapped[int] = mapped_column(Integer)
    i0: Mapped[int] = mapped_column(Integer)
    i1: Mapped[int] = mapped_column(Integer)


class ReadingSession(Base):
    """One session of a study: index 0 without AI, index 1 with AI."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("study_id", "index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(50))
    with_ai: Mapped[bool] = mapped_column(Boolean)
    study: Mapped[Study] = relationship(back_populates="sessions")


class Assignment(Base):
    """Case ``case_id`` at ``position`` of a reader's randomised order in one session."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("reader_id", "session_id", "position"),
        UniqueConstraint("reader_id", "session_id", "case_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    case: Mapped[Case] = relationship()
    session: Mapped[ReadingSession] = relationship()


class Rating(Base):
    """The one rating of an assignment (unique: a case is never rated twice in a session)."""

    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    rating: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    time_spent_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    assignment: Mapped[Assignment] = relationship()
