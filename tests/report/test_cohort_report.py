"""``livermets report cohort``: the report opens in headless Chromium and every image loads."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from tests.helpers import make_patient

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def two_centre_cohort(tmp_path):
    root = tmp_path / "cohort"
    rows = []
    for i in range(6):
        row = make_patient(root, f"p{i}", lesions=((6, 32, 24, 6.0), (6, 30, 38, 4.0)))
        row["center"] = "A" if i < 3 else "B"
        row["sex"] = "F" if i % 2 else "M"
        rows.append(row)
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cohort_report_tables_and_browser(cli, two_centre_cohort, tmp_path):
    out = tmp_path / "report"
    code, output = cli("report", "cohort", two_centre_cohort, "--out", out, "--synthetic",
                       "--json")
    assert code == 0, output
    written = json.loads(output[output.index("{"):])
    assert written["report"] == str(out / "report.html")
    assert str(out / "tables" / "table1_lesions_by_class.csv") in written["tables"]
    by_class = pd.read_csv(out / "tables" / "table1_lesions_by_class.csv", dtype=str)
    assert list(by_class.columns[1:4]) == ["Overall (n=12)", "hemangioma (n=6)", "metastasis (n=6)"]
    hu = by_class.set_index("Characteristic").loc["Mean attenuation (HU), median [IQR]"]
    medians = {k: float(hu[f"{k} (n=6)"].split()[0]) for k in ("hemangioma", "metastasis")}
    assert medians["hemangioma"] == pytest.approx(140, abs=2)
    assert medians["metastasis"] == pytest.approx(50, abs=2)
    assert hu["p"] == "0.002"  # Wilcoxon exact, 6 vs 6 fully separated: 2/924
    by_centre = pd.read_csv(out / "tables" / "table1_patients_by_centre.csv")
    assert "Sex, n (%)" in by_centre["Characteristic"].tolist()
    assert len(pd.read_parquet(out / "lesions.parquet")) == 12

    html = (out / "report.html").read_text()
    assert "Synthetic data" in html and "http://" not in html and "https://" not in html
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((out / "report.html").as_uri())
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
        )
        tables = page.evaluate("document.querySelectorAll('table.data').length")
        browser.close()
    assert errors == []
    assert len(images) == 2 and all(done and width > 100 for done, width, _ in images)
    assert tables == 3
