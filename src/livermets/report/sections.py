"""The sections of a study report, each registered once by name, title and order (the one
idiom of every report kind: ``report.registry``).

``report.study.add_study_sections`` draws every registered section that applies to a study, in
order. To add a section: write ``draw_<name>(section, result)`` in the report module of its
topic and register it here with its order and the rule of when it applies.
"""

from __future__ import annotations

from collections.abc import Callable

from livermets.report.deep import draw_deep
from livermets.report.document import Section
from livermets.report.flow import draw_flow
from livermets.report.models import (
    clinical_section,
    draw_calibration,
    draw_dca,
    draw_features,
    draw_models,
    draw_patient_level,
    draw_roc,
    draw_shap,
    draw_subgroups,
    patient_table,
    subgroup_table,
)
from livermets.report.multiphase import draw_multiphase, draw_workflow_design, workflow_evaluations
from livermets.report.registry import ReportSection, SectionRegistry
from livermets.report.study_patients import draw_patient_table
from livermets.report.survival import survival_section
from livermets.study.runner import StudyResult

StudySection = ReportSection[StudyResult]
STUDY_SECTIONS: SectionRegistry[StudyResult] = SectionRegistry("study report section")


def register_study_section(key: str, title: str, order: int,
                           draw: Callable[[Section, StudyResult], None],
                           applies: Callable[[StudyResult], bool]) -> StudySection:
    """Register a section (a key registered twice raises)."""
    return STUDY_SECTIONS.add(key, title, order, draw, applies)


def study_sections() -> list[StudySection]:
    """Every registered section in report order (equal orders keep registration order)."""
    return STUDY_SECTIONS.sections()


def _models(r: StudyResult) -> bool:
    return bool(r.config.models)


def _binary(r: StudyResult) -> bool:
    return _models(r) and r.data.binary


def _survival(section: Section, result: StudyResult) -> None:
    from livermets.study.survival import survival_analysis

    survival_section(section, survival_analysis(result), result.config.data.time_column)


def _multiphase(section: Section, result: StudyResult) -> None:
    draw_multiphase(section, workflow_evaluations(result.multiphase),
                    synthetic=result.config.synthetic)


for _entry in (
    ("study-flow", "Patient flow", 389, draw_flow, _models),
    ("study-patients", "Patients", 390, draw_patient_table, _models),
    ("models", "Models", 400, draw_models, _models),
    ("models-deep", "Deep models: Grad-CAM and embeddings", 400, draw_deep,
     lambda r: _models(r) and bool(r.config.deep)),
    ("models-roc", "ROC curves", 401, draw_roc, _binary),
    ("models-calibration", "Calibration", 402, draw_calibration, _binary),
    ("models-dca", "Decision curves", 403, draw_dca, _binary),
    ("models-features", "Selected features", 404, draw_features, _models),
    ("models-shap", "Explanations", 405, draw_shap, _models),
    ("models-subgroups", "Subgroups", 406, draw_subgroups,
     lambda r: _models(r) and not subgroup_table(r.metrics).empty),
    ("models-patients", "Patient level", 407, draw_patient_level,
     lambda r: _models(r) and not patient_table(r.metrics, r.config.aggregation).empty),
    ("models-clinical", "Clinical and combined models", 408, clinical_section,
     lambda r: _binary(r) and r.config.clinical is not None),
    ("models-survival", "Survival", 409, _survival,
     lambda r: _models(r) and r.config.survival is not None),
    ("multiphase-design", "Multi-phase lesion network: design", 410,
     lambda section, r: draw_workflow_design(section, r.multiphase),
     lambda r: r.multiphase is not None),
    ("multiphase", "Multi-phase lesion diagnosis", 420, _multiphase,
     lambda r: r.multiphase is not None and bool(workflow_evaluations(r.multiphase))),
):
    register_study_section(*_entry)
