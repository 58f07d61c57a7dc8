"""``livermets demo``: the built-in synthetic study end to end (small cohort)."""

from __future__ import annotations

import json

import pandas as pd


def test_demo_end_to_end(cli, tmp_path):
    out = tmp_path / "demo"
    code, output = cli("demo", "--out", out, "--patients", "10", "--seed", "3", "--workers", "2")
    assert code == 0, output
    html = (out / "report.html").read_text()
    assert "Synthetic data" in html and "Table 1c" in html and html.count("<img") > 4
    lesions = pd.read_parquet(out / "lesions.parquet")
    assert len(lesions) > 0
    assert set(lesions["label"]) <= {"metastasis", "hemangioma"}
    truth = pd.read_csv(out / "cohort" / "truth.csv")
    assert len(lesions) <= len(truth)
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == [
        "synthetic cohort",
        "validation",
        "lesions and cohort report",
        "radiomics and model comparison", "CNN on lesion crops",
    ]
    metrics = json.loads((out / "study" / "metrics.json").read_text())
    assert metrics
    cnn_path = out / "study" / "deep" / "predictions_cnn.parquet"
    cnn = pd.read_parquet(cnn_path)
    assert "read from the cache" not in html
    # a second run reuses the cohort (same lesion table) and every fold's CNN (same predictions)
    code, output = cli("demo", "--out", out, "--patients", "10", "--seed", "3", "--workers", "2",
                       "--json")
    assert code == 0
    summary = json.loads(output[output.index("{"):])
    assert summary["report"] == str(out / "report.html") and summary["patients"] == 10
    assert summary["lesions"] == len(lesions) and set(summary["timings_s"]) == set(timings)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "lesions.parquet"), lesions)
    pd.testing.assert_frame_equal(pd.read_parquet(cnn_path), cnn)
    folds = cnn[["repeat", "fold"]].drop_duplicates().shape[0]
    assert f"{folds} of {folds} folds were read from the cache" in (out / "report.html").read_text()


def test_demo_opens_the_callers_bar_for_the_synthetic_cohort_only(monkeypatch, tmp_path):
    """``run_demo`` draws nothing: it opens the caller's progress display (the CLI's bar)
    around the synthetic cohort and passes its callback down to ``generate_cohort``."""
    import contextlib

    import livermets.demo as demo

    calls: list[tuple] = []

    @contextlib.contextmanager
    def bars(total, description):
        calls.append(("open", total, description))
        try:
            yield lambda pid: calls.append(("patient", pid))
        finally:
            calls.append(("close",))

    class Stop(Exception):
        """Ends the demo after its synthetic cohort (the rest is test_demo_end_to_end's)."""

    def fake_generate(config, out, workers=None, progress=None):
        progress("P0001")
        progress("P0002")
        raise Stop  # the rest of the demo is test_demo_end_to_end's

    monkeypatch.setattr(demo, "generate_cohort", fake_generate)
    with contextlib.suppress(Stop):
        demo.run_demo(tmp_path / "demo", patients=2, progress=bars)
    assert calls == [("open", 2, "synth crlm-vs-hemangioma"), ("patient", "P0001"),
                     ("patient", "P0002"), ("close",)]


def test_demo_bad_patients_exits_2(cli, tmp_path):
    code, output = cli("demo", "--out", tmp_path / "d", "--patients", "0")
    assert code == 2 and "--patients" in output and "Traceback" not in output


def test_demo_segmentation_step(tmp_path):
    from livermets.cohort import load_manifest
    from livermets.demo_segment import run_demo_segmentation
    from livermets.report import Report
    from livermets.report.segmentation import add_demo_segmentation_sections
    from livermets.synth import generate_cohort, make_config

    cohort = generate_cohort(
        make_config("crlm-vs-hemangioma", 4, 5, scale=2.0), tmp_path / "c", workers=1
    )
    manifest = load_manifest(cohort.manifest)
    report = Report("t", synthetic=True)
    qa = run_demo_segmentation(manifest, tmp_path / "seg", seed=0, iterations=20)
    add_demo_segmentation_sections(report, qa, tmp_path / "seg", iterations=20,
                                   train_centre="A")
    centres = manifest.table["center"].astype(str)
    assert qa.n_patients == int((centres != "A").sum()) > 0
    liver = qa.structure_summary.set_index("structure").loc["liver"]
    assert 0.0 <= liver["dice_mean"] <= 1.0
    assert (tmp_path / "seg" / "qa" / "qa.json").is_file()
    html = report.render()
    assert "Segmentation quality" in html and "centre A" in html
