"""Bad input gets a 4xx answer, never a 500: numbers out of range, ids beyond 64 bits, NUL
characters, JSON booleans as ratings, double submissions and unique violations."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import event, func, insert, select

from livermets.readers.models import Rating
from tests.readers.conftest import (
    admin_and_reader,
    csrf_of,
)

HUGE = str(2**70)
READER = ("ivy", "ivy-password-1")


@pytest.fixture
def clients(live):
    """An admin and a reader of one study."""
    with admin_and_reader(live.url, "bad input", READER) as pair:
        yield pair


@pytest.mark.parametrize("change", [
    {"washout_days": "1e12"}, {"washout_days": "inf"}, {"washout_days": "nan"},
    {"washout_days": "-1"}, {"seed": "-5"}, {"seed": HUGE}, {"seed": str(2**31)}, {"seed": "1.5"},
    {"name": "nul\x00name"}, {"question": "why\x00"}, {"scale": "ten-point"},
    {"readers": "kim kim-password-1\x00"},
])
def test_bad_study_settings_are_4xx(clients, change):
    """Out-of-range or malformed study settings are refused (4xx) and create nothing."""
    admin, _ = clients
    page = admin.get("/admin")
    form = {"name": "bad", "model": "radiomics_lr", "scale": "probability", "washout_days": "0",
            "seed": "1", "readers": "kim kim-password-1", "csrf_token": csrf_of(page.text),
            **change}
    resp = admin.post("/admin/studies", data=form)
    assert 400 <= resp.status_code < 500, (change, resp.status_code, resp.text)
    assert ">bad<" not in admin.get("/admin").text


@pytest.mark.parametrize("path", [
    f"/admin/studies/{HUGE}", f"/admin/studies/{HUGE}/ratings.csv",
    f"/api/admin/studies/{HUGE}/ratings", "/admin/studies/-1", "/admin/studies/9999999999",
])
def test_huge_ids_in_admin_paths(clients, path):
    """Ids beyond 64 bits (or absent) in admin paths are 404/422."""
    admin, _ = clients
    assert admin.get(path).status_code in (404, 422)


@pytest.mark.parametrize("path", [
    f"/api/images/{HUGE}/0.png", f"/api/images/1/{HUGE}.png", f"/api/sessions/{HUGE}/current",
    f"/read/{HUGE}", "/api/images/9223372036854775807/0.png",
])
def test_huge_ids_in_reader_paths(clients, path):
    """Ids beyond 64 bits in reader paths are 404/422."""
    _, reader = clients
    assert reader.get(path).status_code in (404, 422)


@pytest.mark.parametrize("body", [
    '{"assignment_id": ' + HUGE + ', "rating": 50}',
    '{"assignment_id": true, "rating": 50}',
    '{"assignment_id": "CUR", "rating": 50}',
    '{"assignment_id": CUR, "rating": true}',
    '{"assignment_id": CUR, "rating": "50"}',
    '{"assignment_id": CUR, "rating": null}',
    '{"assignment_id": CUR, "rating": 50, "comment": "nul \\u0000 inside"}',
    '{"assignment_id": CUR, "rating": 50, "comment": 5}',
    '{"assignment_id": CUR, "rating": 50, "comment": "' + "x" * 2001 + '"}',
    '{"assignment_id": CUR, "rating": 1e400}',
    '{"assignment_id": CUR, "rating": NaN}',
])
def test_strict_json_ratings(clients, body):
    """JSON ratings are strictly typed: true is not 1.0, ids are integers within 64 bits."""
    _, reader = clients
    current = reader.get("/api/sessions/0/current").json()["assignment_id"]
    resp = reader.post("/api/ratings", content=body.replace("CUR", str(current)),
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, (body, resp.status_code, resp.text)
    assert reader.get("/api/sessions/0/current").json()["assignment_id"] == current


@pytest.mark.parametrize("change", [
    {"rating": "true"}, {"rating": "nan"}, {"rating": "1e400"}, {"assignment_id": HUGE},
    {"comment": "a\x00b"}, {"assignment_id": "x"},
])
def test_bad_rating_forms(clients, change):
    """The reading page's form refuses the same things (422)."""
    _, reader = clients
    page = reader.get("/read/0").text
    current = reader.get("/api/sessions/0/current").json()["assignment_id"]
    form = {"assignment_id": str(current), "rating": "50", "csrf_token": csrf_of(page),
            **change}
    assert reader.post("/read/0/rate", data=form).status_code == 422


def test_login_with_nul_is_4xx(live):
    """A NUL in the username (PostgreSQL would reject it) is a 4xx."""
    with httpx.Client(base_url=live.url) as client:
        page = client.get("/login")
        resp = client.post("/login", data={"username": "ad\x00min", "password": "x",
                                           "csrf_token": csrf_of(page.text)})
        assert 400 <= resp.status_code < 500


def _count(live) -> int:
    with live.app.state.factory() as db:
        return db.scalar(select(func.count(Rating.id)))


def test_double_submitted_form_is_idempotent(live, clients):
    """The same form sent twice gives the next case both times and stores one rating; a
    different second rating of the same case is 409."""
    _, reader = clients
    page = reader.get("/read/0").text
    current = reader.get("/api/sessions/0/current").json()["assignment_id"]
    form = {"assignment_id": str(current), "rating": "70", "comment": "same",
            "csrf_token": csrf_of(page)}
    assert reader.post("/read/0/rate", data=form).status_code == 303
    assert reader.post("/read/0/rate", data=form).status_code == 303
    assert _count(live) == 1
    assert reader.post("/read/0/rate", data={**form, "rating": "20"}).status_code == 409


def test_unique_violation_is_409_not_500(live, clients):
    """When another transaction stores the same rating first (a race on PostgreSQL), the
    database's unique violation is answered 409 (JSON) or as a double submission (form)."""
    _, reader = clients
    factory = live.app.state.factory
    current = reader.get("/api/sessions/0/current").json()["assignment_id"]

    def racer(session, _context, _instances):
        for obj in list(session.new):
            if isinstance(obj, Rating):
                session.connection().execute(insert(Rating).values(
                    assignment_id=obj.assignment_id, rating=obj.rating, comment=obj.comment,
                    time_spent_s=0.0, created_at=obj.created_at or func.now()))

    event.listen(factory, "before_flush", racer)
    try:
        resp = reader.post("/api/ratings", json={"assignment_id": current, "rating": 50})
        assert resp.status_code == 409, resp.text
        page = reader.get("/read/0").text
        resp = reader.post("/read/0/rate", data={"assignment_id": str(current), "rating": "50",
                                                 "csrf_token": csrf_of(page)})
        assert resp.status_code in (303, 409), resp.text
    finally:
        event.remove(factory, "before_flush", racer)
    assert _count(live) == 0


def test_double_submitted_study_is_409(clients):
    """Creating the same study twice: the second is 409."""
    admin, _ = clients
    page = admin.get("/admin")
    form = {"name": "twice", "model": "radiomics_lr", "readers": "jon jon-password-1",
            "csrf_token": csrf_of(page.text)}
    assert admin.post("/admin/studies", data=form).status_code == 303
    resp = admin.post("/admin/studies", data=form)
    assert resp.status_code == 409 and "exists already" in resp.text
