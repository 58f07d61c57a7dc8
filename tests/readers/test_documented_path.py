"""The path of docs/readers.md, as a user runs it: `livermets demo`, the documented
reader_study.yaml beside it, `livermets readers serve` in its own process, an admin and two
readers in headless Chromium (keyboard rating), `readers export`, then `stats mrmc`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from playwright.sync_api import sync_playwright
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

import livermets
from livermets.cli.main import app as main_app
from tests.readers.conftest import CHROMIUM_ARGS, free_port
from tests.readers.test_browser import _login, _wait

DOCS = Path(__file__).parents[2] / "docs" / "readers.md"
READERS = {"ines": "ines-password-1", "omar": "omar-password-2"}
ADMIN_PASSWORD = "a long secret phrase"  # the documented one
# the docs' SQLite path; `make test` runs it; `make test-pg` deselects it
pytestmark = pytest.mark.sqlite_only


def _documented() -> tuple[str, list[str]]:
    """The study file and the `livermets ...` command lines of the docs' 'Running a study'."""
    section = DOCS.read_text().split("## Running a study", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    study = block.split("<<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]
    joined = block.replace("\\\n", " ")
    commands = [re.sub(r"\s+#.*", "", line).strip() for line in joined.splitlines()
                if line.startswith("livermets ")]
    return study, commands


def _command(commands: list[str], prefix: str) -> list[str]:
    """The documented command starting with ``prefix``, split like a shell would."""
    (line,) = [c for c in commands if c.startswith(prefix)]
    return shlex.split(line)[1:]


def _read_by_keyboard(page, url: str, reader: str, index: int, given: list[dict]) -> None:
    """Rate a whole session with the keys 1-5 (10 ... 90) or a typed value, then Enter."""
    page.goto(f"{url}/read")
    page.click(f"#start-{index}")
    while page.locator("#session-done").count() == 0:
        _wait(page, "document.getElementById('view').dataset.ready === '1'")
        position = int(page.inner_text("#position"))
        assert (page.locator("#ai-box").count() == 1) == (index == 1)
        page.focus("#view")
        if (position + index + len(reader)) % 3:
            key = 1 + (position * 7 + index * 3 + len(reader)) % 5
            page.keyboard.press(str(key))
            rating = 20 * key - 10
            assert page.input_value("#rating") == str(rating)
        else:
            rating = (position * 37 + index * 11) % 101
            page.fill("#rating", str(rating))
            page.focus("#view")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        given.append({"reader": reader, "modality": ["without-ai", "with-ai"][index],
                      "position": position, "rating": float(rating)})


@pytest.fixture
def demo_folder(tmp_path) -> Path:
    """`livermets demo` at a test size; the folder the docs `cd` into."""
    out = tmp_path / "results" / "demo"
    result = CliRunner().invoke(main_app, ["demo", "--out", str(out), "--patients", "8",
                                           "--no-cnn", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    return out


def test_documented_path_from_demo_to_mrmc(demo_folder, monkeypatch):
    """Every documented step works on the demo's files unchanged (washout 0 for the test)."""
    study_text, commands = _documented()
    raw = yaml.safe_load(study_text)
    assert raw["washout_days"] == 28 and raw["cohort"] == "cohort/manifest.csv"
    raw["washout_days"] = 0  # the AI session opens at once in the test
    (demo_folder / "reader_study.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(demo_folder)
    preds = pd.read_parquet(demo_folder / "study" / "predictions.parquet")
    preds = preds[preds["model"] == raw["model"]]
    n_cases, n_pos = len(preds), int((preds["y_true"] == raw["positive_label"]).sum())
    assert 0 < n_pos < n_cases

    serve = _command(commands, "livermets readers serve")
    port = free_port()
    serve[serve.index("--port") + 1] = str(port)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LIVERMETS_READERS_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "PYTHONPATH": os.pathsep.join([str(Path(livermets.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(
        [sys.executable, "-c", "from livermets.cli.main import main; main()", *serve],
        env=env, cwd=demo_folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    given: list[dict] = []
    errors: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read()
            with contextlib.suppress(httpx.TransportError):  # not listening yet
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            admin = browser.new_page()
            admin.on("pageerror", lambda e: errors.append(str(e)))
            _login(admin, url, "admin", ADMIN_PASSWORD)
            assert admin.input_value("#model") == raw["model"]
            admin.fill("#name", "demo reader study")
            admin.fill("#readers", "\n".join(f"{u} {pw}" for u, pw in READERS.items()))
            admin.click("#create")
            assert f"{n_cases} cases" in admin.content()
            for reader, password in READERS.items():
                page = browser.new_context().new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                _login(page, url, reader, password)
                for index in (0, 1):
                    _read_by_keyboard(page, url, reader, index, given)
                page.context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    output = server.stdout.read()
    assert f"http://127.0.0.1:{port}/" in output and errors == []
    assert len(given) == 2 * 2 * n_cases

    export = _command(commands, "livermets readers export")
    result = CliRunner().invoke(main_app, [*export, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ratings"] == len(given)
    ratings = pd.read_csv(demo_folder / "ratings.csv")
    key = ["reader", "modality", "position"]
    got = ratings[[*key, "rating"]].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, pd.DataFrame(given).sort_values(key)
                                  .reset_index(drop=True), check_dtype=False)
    per_reader = ratings.groupby(["reader", "modality"])
    assert per_reader["case"].nunique().eq(n_cases).all()
    assert per_reader["truth"].sum().eq(n_pos).all()  # truth = y_true == positive_label

    mrmc = CliRunner().invoke(main_app, [*_command(commands, "livermets stats mrmc"), "--json"])
    assert mrmc.exit_code == 0, mrmc.output
    res = json.loads(mrmc.output)
    for (reader, modality), rows in per_reader:
        want = roc_auc_score(rows["truth"], rows["rating"])
        assert res["modalities"][modality]["reader_auc"][reader] == pytest.approx(want, abs=1e-9)
