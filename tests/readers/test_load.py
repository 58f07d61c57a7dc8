"""Load: 50 simulated readers rate concurrently against a live server; nothing lost or doubled."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from livermets.readers.models import Assignment, Rating
from livermets.readers.simulate import run_load
from tests.readers.conftest import ADMIN_PASSWORD, create_study_http, login

N_READERS = 50
PER_READER = 4


def test_fifty_concurrent_readers(live):
    """50 readers x 4 ratings at once: exactly 200 stored, one per (reader, session, case)."""
    readers = [(f"reader{i:02d}", f"password-{i:04d}") for i in range(N_READERS)]
    with httpx.Client(base_url=live.url, timeout=120) as admin:
        login(admin, "admin", ADMIN_PASSWORD)
        create_study_http(admin, "load study", readers)
    result = run_load(live.url, readers, session_index=0, max_ratings=PER_READER, images=True)
    assert result.errors == []
    assert result.ratings == N_READERS * PER_READER
    assert result.wall_s < 120
    assert len(result.latencies["save rating"]) == N_READERS * PER_READER
    with live.app.state.factory() as db:
        stored = db.scalar(select(func.count(Rating.id)))
        distinct = db.scalar(select(func.count(func.distinct(Rating.assignment_id))))
        per_reader = db.execute(select(Assignment.reader_id, func.count(Rating.id))
                                .join(Rating, Rating.assignment_id == Assignment.id)
                                .group_by(Assignment.reader_id)).all()
        positions = db.scalars(select(Assignment.position).join(
            Rating, Rating.assignment_id == Assignment.id)).all()
    assert stored == distinct == N_READERS * PER_READER
    assert len(per_reader) == N_READERS and {n for _, n in per_reader} == {PER_READER}
    assert sorted(set(positions)) == list(range(PER_READER))  # each rated its first 4 in order
