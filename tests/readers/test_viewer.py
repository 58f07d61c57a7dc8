"""The reading viewer: the region stack endpoint (shape, blinding, isolation), the region box,
and in headless Chromium slices by keyboard, window/level by drag, rating by keys."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from livermets.readers.images import LESION_MARGIN_MM, LIVER_MARGIN_MM, region_box
from tests.readers.conftest import ADMIN_PASSWORD, CHROMIUM_ARGS, create_study_http, login

READERS = [("alice", "alice-pass-1"), ("bob", "bob-pass-1234")]


@pytest.fixture
def clients(live):
    """An admin client and two reader clients of one five-point study."""
    admin = httpx.Client(base_url=live.url)
    login(admin, "admin", ADMIN_PASSWORD)
    study_id = create_study_http(admin, "viewer study", READERS, scale="five-point")
    readers = {}
    for name, password in READERS:
        readers[name] = httpx.Client(base_url=live.url)
        readers[name].headers["X-CSRF-Token"] = login(readers[name], name, password)
    yield admin, readers, study_id
    for client in [admin, *readers.values()]:
        client.close()


def test_region_box_uses_the_liver_else_a_wide_lesion_margin():
    """The liver's box plus margin (lesion included); without a liver, the lesion plus 60 mm."""
    shape, spacing = (40, 200, 200), (1.0, 1.0, 2.0)
    liver = np.zeros(shape, bool)
    liver[10:30, 50:150, 60:160] = True
    bbox = (12, 14, 90, 99, 100, 109)
    zs, ys, xs = region_box(shape, spacing, bbox, liver)
    assert (zs.start, zs.stop) == (10 - LIVER_MARGIN_MM / 2, 30 + LIVER_MARGIN_MM / 2)
    assert (ys.start, ys.stop, xs.start, xs.stop) == (40, 160, 50, 170)
    zs, ys, xs = region_box(shape, spacing, bbox, None)
    assert (zs.start, zs.stop) == (0, 40)  # 60 mm is 30 slices each way, clipped
    assert (ys.start, ys.stop) == (90 - LESION_MARGIN_MM, 100 + LESION_MARGIN_MM)


def test_volume_is_the_whole_region_and_blinded(clients):
    """One request gives every slice (int16 HU, then the mask) of one's own case, nothing else."""
    _, readers, _ = clients
    alice, bob = readers["alice"], readers["bob"]
    current = alice.get("/api/sessions/0/current").json()
    nz, ny, nx = current["shape"]
    assert current["n_slices"] == nz and current["volume"].startswith("/api/volumes/")
    resp = alice.get(current["volume"])
    assert resp.status_code == 200 and resp.headers["content-encoding"] == "gzip"
    assert resp.headers["content-type"] == "application/octet-stream"
    body = resp.content  # httpx decodes the gzip
    assert len(body) == 3 * nz * ny * nx
    hu = np.frombuffer(body[:2 * nz * ny * nx], "<i2").reshape(nz, ny, nx)
    mask = np.frombuffer(body[2 * nz * ny * nx:], np.uint8).reshape(nz, ny, nx)
    assert set(np.unique(mask)) == {0, 1} and mask[current["start_slice"]].any()
    assert -1024 <= hu.min() < hu.max() <= 3071
    assert mask.sum(axis=(1, 2)).argmax() == current["start_slice"]
    assert b"P00" not in body  # pixels only: no patient id
    assert "truth" not in str(current) and "P00" not in str(current)
    assert bob.get(current["volume"]).status_code == 404  # another reader's case
    assert alice.get("/api/volumes/999999").status_code == 404
    with httpx.Client(base_url=str(alice.base_url)) as anonymous:
        assert anonymous.get(current["volume"]).status_code == 401


def _wait(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression (wait_for_function would need eval, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.03)


def _slice(page) -> int:
    return int(page.get_attribute("#view", "data-slice"))


def test_viewer_keyboard_drag_and_rating(live, clients):
    """Arrow/Page keys move through slices, a drag changes W/L (kept for the next case),
    a number key picks the rating and Enter saves it."""
    admin, _, study_id = clients
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live.url}/login")
        page.fill("#username", "alice")
        page.fill("#password", READERS[0][1])
        page.click("#login")
        page.goto(f"{live.url}/read/0")
        _wait(page, "document.getElementById('view').dataset.ready === '1'")
        n_slices = int(page.get_attribute("#slider", "max")) + 1
        assert n_slices > 6
        page.click(".win[data-window='liver']")
        assert page.inner_text("#wl-label") == "W 160 L 60 (liver)"
        page.focus("#view")
        page.evaluate("() => { const s = document.getElementById('slider'); s.value = 0;"
                      " s.dispatchEvent(new Event('input')); }")
        assert _slice(page) == 0
        page.keyboard.press("ArrowDown")
        assert _slice(page) == 1 and page.inner_text("#slice-label") == f"slice 2 / {n_slices}"
        page.keyboard.press("PageDown")
        assert _slice(page) == 6
        page.keyboard.press("ArrowUp")
        assert _slice(page) == 5 and page.input_value("#slider") == "5"
        box = page.locator("#view").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 64, y + 32, steps=4)
        page.mouse.up()
        dragged = page.inner_text("#wl-label")
        assert dragged != "W 160 L 60 (liver)"
        width, level = (int(v) for v in dragged.split()[1::2])
        assert width > 160 and level > 60
        page.mouse.wheel(0, -100)
        _wait(page, "document.getElementById('zoom-label').textContent === 'zoom 1.25×'")
        page.keyboard.press("4")
        assert page.is_checked("#rating-4")
        position = page.inner_text("#position")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.inner_text("#position") == str(int(position) + 1)
        _wait(page, "document.getElementById('view').dataset.ready === '1'")
        assert page.inner_text("#wl-label") == dragged  # the window is remembered
        browser.close()
    assert errors == []
    rows = admin.get(f"/api/admin/studies/{study_id}/ratings").json()
    assert [(r["reader"], r["rating"], r["position"]) for r in rows] == [
        ("alice", 4.0, int(position))]


def test_next_case_is_loaded_ahead(live, clients):
    """Showing a case loads the next one's region in the background, so it comes from the
    cache when the reader gets there (one disk read per case)."""
    _, readers, _ = clients
    alice = readers["alice"]
    regions = live.app.state.regions
    first = alice.get("/api/sessions/0/current").json()
    deadline = time.monotonic() + 20
    while regions.loads < 2:
        assert time.monotonic() < deadline, "the next case was not loaded ahead"
        time.sleep(0.02)
    assert alice.post("/api/ratings", json={"assignment_id": first["assignment_id"],
                                            "rating": 4}).status_code == 201
    second = alice.get("/api/sessions/0/current").json()
    assert second["position"] == first["position"] + 1
    assert alice.get(second["volume"]).status_code == 200
    while regions.loads < 3:  # the third case is loaded ahead in turn
        assert time.monotonic() < deadline, "the case after the next was not loaded ahead"
        time.sleep(0.02)
    time.sleep(0.2)
    assert regions.loads == 3  # the second case itself came from the cache


def test_region_cache_loads_a_case_once_for_concurrent_requests():
    """Requests for a region that is being loaded wait for that load instead of reading again."""
    import threading

    from livermets.readers.images import Region, RegionCache

    calls = []
    gate = threading.Event()

    def load() -> Region:
        calls.append(1)
        gate.wait(5)
        return Region(np.zeros((2, 3, 3), np.int16), np.zeros((2, 3, 3), np.uint8))

    cache = RegionCache(size=2)
    ahead = cache.prefetch(7, load)
    assert ahead is not None and cache.prefetch(7, load) is None  # already loading
    got: list[Region] = []
    waiters = [threading.Thread(target=lambda: got.append(cache.get(7, load))) for _ in range(3)]
    for t in waiters:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in waiters:
        t.join(5)
    assert len(calls) == 1 and cache.loads == 1 and len(got) == 3
    assert all(r is ahead.result() for r in got)
    cache.close()
