"""Security: roles on every route, no truth or other readers' ratings through the API, path
traversal refused on image endpoints, CSRF required on every write, SQL injection stored as text."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.readers.conftest import ADMIN_PASSWORD, create_study_http, csrf_of, login

READERS = [("alice", "alice-pass-1"), ("bob", "bob-pass-1234")]
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/")}
INJECTION = "x'); DROP TABLE ratings; -- <script>alert(1)</script>"


def _routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the app, with path parameters filled in."""
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            path = (route.path.replace("{study_id}", "1").replace("{assignment_id}", "1")
                    .replace("{index}", "0"))
            out.extend((m, path) for m in sorted(route.methods))
    return out


@pytest.fixture
def clients(live):
    """An admin client and two reader clients logged in to one study."""
    admin = httpx.Client(base_url=live.url)
    login(admin, "admin", ADMIN_PASSWORD)
    create_study_http(admin, "security study", READERS)
    readers = {}
    for name, password in READERS:
        readers[name] = httpx.Client(base_url=live.url)
        readers[name].headers["X-CSRF-Token"] = login(readers[name], name, password)
    yield admin, readers
    admin.close()
    for client in readers.values():
        client.close()


def test_every_route_needs_the_right_role(live, clients):
    """Anonymous users are refused everywhere but login; readers and admins keep to their role."""
    admin, readers = clients
    routes = _routes(live.app)
    assert len(routes) >= 15
    with httpx.Client(base_url=live.url) as anonymous:
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            resp = anonymous.request(method, path)
            page = method == "GET" and not path.startswith("/api") and not path.endswith(".csv")
            allowed = {303} if page else {401, 403}
            assert resp.status_code in allowed, (method, path, resp.status_code)
            if resp.status_code == 303:
                assert resp.headers["location"] == "/login"
    token = admin.get("/api/me").json()["csrf"]
    for method, path in routes:
        headers = {"X-CSRF-Token": token}
        if path.startswith(("/read", "/api/sessions", "/api/ratings", "/api/images")):
            assert admin.request(method, path, headers=headers).status_code == 403, path
        if path.startswith(("/admin", "/api/admin")):
            resp = readers["alice"].request(method, path)
            assert resp.status_code == 403, (method, path, resp.status_code)


def test_readers_never_see_truth_or_others_ratings(clients):
    """Nothing a reader can fetch holds truth, case identity or another reader's work."""
    admin, readers = clients
    alice, bob = readers["alice"], readers["bob"]
    current = alice.get("/api/sessions/0/current").json()
    assert alice.post("/api/ratings", json={"assignment_id": current["assignment_id"],
                                            "rating": 80}).status_code == 201
    bob_current = bob.get("/api/sessions/0/current").json()
    for text in (alice.get("/api/sessions/0/current").text, alice.get("/api/sessions").text,
                 alice.get("/read/0").text, alice.get("/read").text):
        assert "truth" not in text.lower() and "P000" not in text and "ai_probability" not in text
    # bob's case: alice can neither view nor rate it
    assert alice.get(f"/api/images/{bob_current['assignment_id']}/0.png").status_code == 404
    resp = alice.post("/api/ratings", json={"assignment_id": bob_current["assignment_id"],
                                            "rating": 10})
    assert resp.status_code == 404
    assert alice.get("/api/admin/studies/1/ratings").status_code == 403
    assert alice.get("/admin/studies/1/ratings.csv").status_code == 403
    # a second rating of the same case and a rating out of order are refused
    assert alice.post("/api/ratings", json={"assignment_id": current["assignment_id"],
                                            "rating": 20}).status_code == 409
    nxt = alice.get("/api/sessions/0/current").json()["assignment_id"]
    assert alice.post("/api/ratings", json={"assignment_id": nxt + 1, "rating": 5}
                      ).status_code in (404, 409)
    # the AI session is closed until the first is finished; no AI overlay in session 0
    assert alice.get("/api/sessions/1/current").json()["locked"] is True
    assert alice.get(f"/api/images/{nxt}/0.png?overlay=1").status_code == 403
    rows = admin.get("/api/admin/studies/1/ratings").json()
    assert [(r["reader"], r["rating"]) for r in rows] == [("alice", 80.0)]


@pytest.mark.parametrize("path", [
    "/api/images/..%2F..%2F..%2Fetc%2Fpasswd/0.png",
    "/api/images/1/..%2F..%2F..%2Fetc%2Fpasswd.png",
    "/api/images/1/../../../../etc/passwd",
    "/api/images/%2e%2e/%2e%2e/etc/passwd",
    "/api/images/1/0.png?window=../../../../etc/passwd",
    "/api/images/1/-1.png",
    "/api/images/1/999999.png",
])
def test_image_endpoint_refuses_traversal(clients, path):
    """Image requests take database ids only: paths and bad slices are refused."""
    _, readers = clients
    resp = readers["alice"].get(path)
    assert 400 <= resp.status_code < 500
    assert "root:" not in resp.text and resp.headers.get("content-type") != "image/png"


def test_image_endpoint_serves_own_slices(clients):
    """The reader's own case comes back as a PNG per slice and window."""
    _, readers = clients
    current = readers["alice"].get("/api/sessions/0/current").json()
    for window in current["windows"]:
        resp = readers["alice"].get(f"/api/images/{current['assignment_id']}/"
                                    f"{current['n_slices'] - 1}.png?window={window}")
        assert resp.status_code == 200 and resp.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_csrf_required_on_every_write(live, clients):
    """Every POST route refuses a request without the token or with a wrong one."""
    admin, readers = clients
    posts = [path for method, path in _routes(live.app) if method == "POST"]
    assert {"/login", "/logout", "/admin/studies", "/api/ratings", "/read/0/rate"} <= set(posts)
    current = readers["alice"].get("/api/sessions/0/current").json()
    for path in posts:
        client = admin if path.startswith("/admin") else readers["alice"]
        for token in (None, "forged-token"):
            headers = {"X-CSRF-Token": token} if token else {"X-CSRF-Token": ""}
            resp = client.post(path, headers=headers, data={
                "csrf_token": token or "", "assignment_id": str(current["assignment_id"]),
                "rating": "50", "name": "forged", "readers": "eve eve-pass-1",
                "username": "alice", "password": "alice-pass-1"})
            assert resp.status_code == 403, (path, token, resp.status_code)
            resp = client.post(path, headers=headers,
                               json={"assignment_id": current["assignment_id"], "rating": 50})
            assert resp.status_code == 403, (path, "json", resp.status_code)
    rows = admin.get("/api/admin/studies/1/ratings").json()
    assert rows == []
    assert "forged" not in admin.get("/admin").text


def test_sql_injection_text_is_stored_as_text(live, clients):
    """Injection strings in the study name, question, comment and login are inert text."""
    admin, readers = clients
    page = admin.get("/admin")
    resp = admin.post("/admin/studies", data={
        "name": INJECTION, "question": INJECTION + " ' OR '1'='1", "model": "radiomics_lr",
        "scale": "five-point", "washout_days": "0", "seed": "1",
        "readers": "carol carol-pass-1", "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 303
    study_page = admin.get(resp.headers["location"]).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in study_page
    assert "<script>alert" not in study_page
    alice = readers["alice"]
    current = alice.get("/api/sessions/0/current").json()
    resp = alice.post("/api/ratings", json={"assignment_id": current["assignment_id"],
                                            "rating": 42, "comment": INJECTION})
    assert resp.status_code == 201
    with httpx.Client(base_url=live.url) as mallory:
        page = mallory.get("/login")
        resp = mallory.post("/login", data={"username": "admin' OR '1'='1' --",
                                            "password": "' OR 1=1 --",
                                            "csrf_token": csrf_of(page.text)})
        assert resp.status_code == 401
    rows = admin.get("/api/admin/studies/1/ratings").json()
    assert rows[0]["comment"] == INJECTION and rows[0]["rating"] == 42.0
    assert INJECTION in admin.get("/admin").text.replace("&#39;", "'").replace(
        "&lt;", "<").replace("&gt;", ">")
    carol = httpx.Client(base_url=live.url)
    login(carol, "carol", "carol-pass-1")
    read = carol.get("/read/0").text
    assert "&lt;script&gt;" in read and "<script>alert" not in read
    carol.close()
