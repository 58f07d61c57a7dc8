"""End to end in headless Chromium: an admin creates a study, two readers read and rate (one
reloads and logs in again mid-study), the export holds exactly those ratings and MRMC runs on it."""

from __future__ import annotations

import json
import time

import pandas as pd
from playwright.sync_api import sync_playwright
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.readers import register
from tests.readers.conftest import ADMIN_PASSWORD, CHROMIUM_ARGS

READERS = {"alice": "alice-pass-1", "bob": "bob-pass-1234"}
SHOTS = "/tmp/livermets-readers"


def _wait(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression (wait_for_function would need eval, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.03)


def _login(page, url: str, user: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login")


def _read_session(page, url: str, reader: str, index: int, given: list[dict],
                  reload_after: int | None = None, shot: str | None = None) -> None:
    """Rate every case of a session through the page, as a reader would."""
    page.goto(f"{url}/read")
    page.click(f"#start-{index}")
    while page.locator("#session-done").count() == 0:
        position = int(page.inner_text("#position"))
        if reload_after is not None and position == reload_after + 1:
            page.reload()  # closing or reloading loses nothing: the same case comes back
            assert int(page.inner_text("#position")) == position
            reload_after = None
        _wait(page, "document.getElementById('view').dataset.ready === '1'")
        page.click(".win[data-window='soft-tissue']")
        page.evaluate("s => { const el = document.getElementById('slider'); el.value = 0;"
                      " el.dispatchEvent(new Event('input')); }", None)
        assert page.inner_text("#slice-label").startswith("slice 1 /")
        assert (page.locator("#ai-box").count() == 1) == (index == 1)
        if shot and position == (1 if index == 1 else 2):
            page.screenshot(path=f"{SHOTS}/{shot}")
        html = page.content()
        assert "truth" not in html.lower() and "P000" not in html  # blinded to truth and IDs
        rating = (position * 37 + len(reader) * 11 + index * 29) % 101
        page.fill("#rating", str(rating))
        page.fill("#comment", f"{reader} case {position}")
        with page.expect_navigation():
            page.click("#submit")
        given.append({"reader": reader, "modality": ["without-ai", "with-ai"][index],
                      "position": position, "rating": float(rating)})


def test_reader_study_in_browser(live, db_url, tmp_path):
    """Admin creates the study; alice and bob read both sessions; export and MRMC agree."""
    import os

    os.makedirs(SHOTS, exist_ok=True)
    given: list[dict] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        errors: list[str] = []
        admin = browser.new_page()
        admin.on("pageerror", lambda e: errors.append(str(e)))
        _login(admin, live.url, "admin", ADMIN_PASSWORD)
        admin.fill("#name", "CRLM vs hemangioma, 2 readers")
        admin.fill("#readers", "\n".join(f"{u} {pw}" for u, pw in READERS.items()))
        admin.screenshot(path=f"{SHOTS}/admin_create.png", full_page=True)
        admin.click("#create")
        assert admin.inner_text("#study-name") == "CRLM vs hemangioma, 2 readers"
        assert "0 / 7" in admin.inner_text("#progress")

        ctx = browser.new_context()
        alice = ctx.new_page()
        alice.on("pageerror", lambda e: errors.append(str(e)))
        _login(alice, live.url, "alice", READERS["alice"])
        assert "/read" in alice.url
        _read_session(alice, live.url, "alice", 0, given, reload_after=3,
                      shot="reader_without_ai.png")
        # the AI session opens after the washout (0 days here); alice logs out and back in
        alice.click("#logout")
        ctx.close()
        alice = browser.new_page()
        _login(alice, live.url, "alice", READERS["alice"])
        _read_session(alice, live.url, "alice", 1, given, shot="reader_with_ai.png")

        bob = browser.new_context().new_page()
        bob.on("pageerror", lambda e: errors.append(str(e)))
        _login(bob, live.url, "bob", READERS["bob"])
        _read_session(bob, live.url, "bob", 0, given)
        # bob stops mid-session (browser closed) and resumes in a new one
        bob.goto(f"{live.url}/read")
        bob.context.close()
        bob = browser.new_context().new_page()
        _login(bob, live.url, "bob", READERS["bob"])
        _read_session(bob, live.url, "bob", 1, given, reload_after=5)
        admin.goto(admin.url)
        assert admin.inner_text("#progress").count("7 / 7") == 4
        admin.screenshot(path=f"{SHOTS}/admin_progress.png", full_page=True)
        browser.close()
    assert errors == []
    assert len(given) == 28

    app = new_app("test")
    register(app)
    out = tmp_path / "ratings.csv"
    result = CliRunner().invoke(app, ["readers", "export", "--db", db_url, "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ratings"] == 28
    exported = pd.read_csv(out)
    key = ["reader", "modality", "position"]
    got = exported[[*key, "rating"]].sort_values(key).reset_index(drop=True)
    want = pd.DataFrame(given).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert exported.groupby(["reader", "modality"])["case"].nunique().eq(7).all()
    assert (exported["time_s"] >= 0).all() and exported["truth"].isin([0, 1]).all()
    assert set(exported["comment"]) == {f"{g['reader']} case {g['position']}" for g in given}

    from livermets.cli.main import app as main_app

    mrmc = CliRunner().invoke(main_app, ["stats", "mrmc", "--csv", str(out), "--reader",
                                         "reader", "--modality", "modality", "--case", "case",
                                         "--truth", "truth", "--rating", "rating", "--json"])
    assert mrmc.exit_code == 0, mrmc.output
    res = json.loads(mrmc.output)
    assert set(res["modalities"]) == {"with-ai", "without-ai"}
    assert set(res["modalities"]["with-ai"]["reader_auc"]) == {"alice", "bob"}
