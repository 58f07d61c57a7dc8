"""Every report kind (cohort, segmentation, reader study, the demo's CNN) is a registry of
sections drawn from one typed input: a section registered at an order is drawn in that place."""

from __future__ import annotations

import re
from html import escape

import pandas as pd
import pytest

from livermets.report import Report
from livermets.report.registry import SectionRegistry, draw_sections


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', html)


@pytest.fixture
def register(monkeypatch):
    """Register a section in a registry for one test only (the entries are restored after)."""

    def add(registry: SectionRegistry, key: str, order: int, draw, applies=None) -> None:
        monkeypatch.setattr(registry, "entries", dict(registry.entries))
        if applies is None:
            registry.add(key, key.title(), order, draw)
        else:
            registry.add(key, key.title(), order, draw, applies)

    return add


def test_the_generic_registry_orders_refuses_twice_and_skips_what_does_not_apply():
    toy: SectionRegistry[int] = SectionRegistry("toy report section")
    toy.add("b", "B", 20, lambda s, n: s.text(f"b{n}"))
    toy.add("a", "A", 10, lambda s, n: s.text(f"a{n}"))
    toy.add("c", "C", 20, lambda s, n: s.text(f"c{n}"), lambda n: n > 5)
    toy.add("d", "D", 15, lambda s, n: s.text(f"d{n}"), lambda n: n < 5)
    assert toy.keys() == ["a", "d", "b", "c"]  # equal orders keep registration order
    with pytest.raises(ValueError, match="registered twice"):
        toy.add("a", "again", 1, lambda s, n: None)
    report = Report("t")
    drawn = draw_sections(report, toy, 3)
    assert [s.key for s in drawn] == ["a", "d", "b"]
    assert _sections(report.render()) == ["a", "d", "b"]
    assert "<p>d3</p>" in report.render()


def test_cohort_report_sections(cohort, tmp_path, register):
    from livermets.cohort import load_manifest
    from livermets.lesions import LesionSettings, build_lesion_tables
    from livermets.report.cohort import COHORT_SECTIONS, CohortReportInput, add_cohort_sections

    assert COHORT_SECTIONS.keys() == ["cohort"]
    seen: list[CohortReportInput] = []

    def draw(section, data: CohortReportInput) -> None:
        seen.append(data)
        section.text(f"{len(data.patients)} patients, {len(data.lesions)} lesions")

    register(COHORT_SECTIONS, "cohort-before", 5, draw)
    register(COHORT_SECTIONS, "cohort-after", 11, draw)
    register(COHORT_SECTIONS, "cohort-never", 12, draw, lambda data: data.per_class > 100)
    assert COHORT_SECTIONS.keys() == ["cohort-before", "cohort", "cohort-after", "cohort-never"]
    manifest = load_manifest(cohort)
    lesions, patients = build_lesion_tables(manifest, LesionSettings())
    report = Report("cohort")
    add_cohort_sections(report, manifest, lesions, patients, tmp_path, per_class=3)
    html = report.render()
    assert _sections(html) == ["cohort-before", "cohort", "cohort-after"]
    assert f"<p>{len(patients)} patients, {len(lesions)} lesions</p>" in html
    assert len(seen) == 2 and seen[0].out == tmp_path and seen[0].per_class == 3
    with pytest.raises(AttributeError):
        seen[0].per_class = 4  # frozen
    assert (tmp_path / "tables" / "table1_patients_by_centre.csv").is_file()
    assert (tmp_path / "lesions.parquet").is_file()


def test_segmentation_report_sections(cohort, tmp_path, register):
    from livermets.cohort import load_manifest
    from livermets.report.segmentation import (
        SEGMENTATION_SECTIONS,
        SegmentationReportInput,
        add_demo_segmentation_sections,
        add_segmentation_sections,
    )
    from livermets.segment import run_qa

    assert SEGMENTATION_SECTIONS.keys() == ["segmentation"]
    manifest = load_manifest(cohort)
    qa = run_qa(manifest, load_manifest(cohort))

    def draw(section, data: SegmentationReportInput) -> None:
        section.text(f"QA of {data.qa.n_patients} patients, demo: {data.demo is not None}")

    register(SEGMENTATION_SECTIONS, "segmentation-first", 19, draw)
    register(SEGMENTATION_SECTIONS, "segmentation-extra", 21, draw)
    assert SEGMENTATION_SECTIONS.keys() == ["segmentation-first", "segmentation",
                                            "segmentation-extra"]
    report = Report("seg")
    add_segmentation_sections(report, qa, tmp_path / "a")
    html = report.render()
    assert _sections(html) == ["segmentation-first", "segmentation", "segmentation-extra"]
    assert f"<p>QA of {qa.n_patients} patients, demo: False</p>" in html
    summary = pd.read_csv(tmp_path / "a" / "tables" / "segmentation_structure_summary.csv")
    assert summary["dice_mean"].tolist() == pytest.approx([1.0] * len(summary))  # itself
    demo = Report("demo")
    add_demo_segmentation_sections(demo, qa, tmp_path / "b", iterations=7, train_centre="Z")
    html = demo.render()
    assert _sections(html) == ["segmentation-first", "segmentation", "segmentation-extra"]
    assert f"<p>QA of {qa.n_patients} patients, demo: True</p>" in html
    # the demo's note comes first in the QA section, then the QA text
    assert html.index("trained for 7 iterations on centre Z") < html.index(
        "Automatic against reference masks")


def test_reader_report_sections(tmp_path, register):
    from livermets.readers import simulate_ratings
    from livermets.readers.analysis import analyse_reader_study
    from livermets.report.readers import READER_SECTIONS, ReaderReportInput, add_reader_sections

    assert READER_SECTIONS.keys() == ["readers"]

    def draw(section, data: ReaderReportInput) -> None:
        groups = [group for group, _ in data.study.by_size]
        section.text(f"groups {', '.join(groups)}; p {data.study.overall.p:.3g}")

    register(READER_SECTIONS, "readers-appendix", 61, draw)
    register(READER_SECTIONS, "readers-intro", 59, draw)
    assert READER_SECTIONS.keys() == ["readers-intro", "readers", "readers-appendix"]
    ratings = simulate_ratings(n_readers=4, n_cases=80, seed=2)
    report = add_reader_sections(Report("readers"), ratings, tmp_path)
    html = report.render()
    assert _sections(html) == ["readers-intro", "readers", "readers-appendix"]
    study = analyse_reader_study(ratings)
    assert [g for g, _ in study.by_size] == sorted(ratings["size_group"].astype(str).unique())
    groups = ", ".join(g for g, _ in study.by_size)
    assert f"<p>{escape(f'groups {groups}; p {study.overall.p:.3g}')}</p>" in html
    mrmc = pd.read_csv(tmp_path / "tables" / "reader_mrmc.csv")
    assert mrmc["cases"].tolist() == ["all cases", *(f"size {g}" for g, _ in study.by_size)]


def test_reader_analysis_refuses_a_table_without_its_columns():
    from livermets.errors import DataError
    from livermets.readers.analysis import analyse_reader_study

    with pytest.raises(DataError, match=r"lacks columns \['truth'\]"):
        analyse_reader_study(pd.DataFrame({"reader": [], "modality": [], "case": [],
                                           "rating": []}))


def test_demo_cnn_report_sections(tmp_path, register):
    from livermets.deep.config import DeepModelSpec
    from livermets.deep.demo import DEMO_CNN, DemoCnnResult
    from livermets.report.deep import DEMO_CNN_SECTIONS, add_demo_cnn_sections

    assert DEMO_CNN_SECTIONS.keys() == ["deep_cnn"]

    def draw(section, result: DemoCnnResult) -> None:
        section.text(f"{result.n_lesions} lesions in {result.n_folds} folds")

    register(DEMO_CNN_SECTIONS, "deep_cnn_more", 411, draw)
    register(DEMO_CNN_SECTIONS, "deep_cnn_gradcam", 412, draw, lambda r: r.gradcam is not None)
    assert DEMO_CNN_SECTIONS.keys() == ["deep_cnn", "deep_cnn_more", "deep_cnn_gradcam"]
    table = pd.DataFrame({"model": ["cnn", "radiomics"], "auc": [0.8, 0.7]})
    result = DemoCnnResult(DeepModelSpec.model_validate(DEMO_CNN), table, 3, 42, 1.0, 1, 0, None)
    report = Report("demo")
    report.section("cohort", "Cohort", 10)
    add_demo_cnn_sections(report, result)
    html = report.render()
    assert _sections(html) == ["cohort", "deep_cnn", "deep_cnn_more"]
    assert "<p>42 lesions in 3 folds</p>" in html and "densenet121" in html
