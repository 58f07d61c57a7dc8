"""Report section of a study's deep models: out-of-fold Grad-CAM galleries and the classical
models refit on CNN embeddings (read from ``OUT/deep/NAME/``, so no torch is imported here)."""

from __future__ import annotations

import pandas as pd

from livermets.deep.demo import DemoCnnResult
from livermets.report.document import Report, Section
from livermets.report.registry import SectionRegistry, draw_sections
from livermets.study.runner import StudyResult


def draw_deep(section: Section, result: StudyResult) -> None:
    """The ``models-deep`` section of a study with ``deep:`` models (read from ``OUT/deep``)."""
    for spec in result.config.deep:
        folder = result.out / "deep" / spec.name
        png, table = folder / "gradcam.png", folder / "gradcam.csv"
        if png.is_file():
            section.figure(
                png.read_bytes(),
                f"Grad-CAM of {spec.name} ({spec.network.backbone}) on out-of-fold test lesions: "
                "per true class (rows), the most confidently right then wrong lesions (predicted "
                "class: the highest lesion probability); each lesion "
                "is explained by the CNN of the fold in which it was a test lesion, on its crop "
                "with the highest probability of the predicted class, for that class.")
            if table.is_file():
                shown = pd.read_csv(table, dtype={"patient_id": str, "lesion_id": str})
                section.table(shown, f"Lesions in the {spec.name} gallery (confidence: lesion "
                              "probability of the predicted class).")
        else:
            section.text(f"{spec.name}: no Grad-CAM gallery (gradcam: 0, or no test lesions).")
        for model in spec.embedding_models():
            section.text(
                f"{model.name}: the classical model {model.classical} refit in every outer fold on "
                f"the penultimate-layer embeddings of {spec.name} (mean over a lesion's slices). "
                "Training and test rows of a fold are embedded by the CNN trained on that fold's "
                "training patients only, so no test lesion shaped its own features; the training "
                "rows' embeddings come from a CNN that saw them, so its inner cut-off may be "
                "optimistic. Its AUC is in the model table; no frozen model is saved for it.")


DEMO_CNN_SECTIONS: SectionRegistry[DemoCnnResult] = SectionRegistry("demo CNN report section")


def draw_demo_cnn(section: Section, result: DemoCnnResult) -> None:
    """The demo's CNN on lesion crops against the radiomics models (same folds)."""
    cnn = result.spec
    cached = (f"; {result.reused_folds} of {result.n_folds} folds were read from the cache of "
              "an earlier run" if result.reused_folds else "")
    section.text(
        f"A {cnn.network.backbone} (MONAI, trained from scratch) on {cnn.crops.size}-pixel "
        f"axial crops (window W330/L10, up to {cnn.crops.max_slices} slices per lesion, slice "
        f"probabilities averaged per lesion), {cnn.train.epochs} epochs with early stopping on "
        "validation AUC of held-out training patients, on exactly the radiomics study's "
        f"cross-validation folds ({result.n_folds} folds; {result.n_lesions} lesions). AUCs are "
        "of pooled out-of-fold lesion predictions; the DeLong test is paired on the same "
        f"lesions. Training and prediction took {result.fit_seconds:.0f} s on {result.threads} "
        f"CPU threads{cached}. "
        "These are synthetic data: the numbers check the pipeline and say nothing about clinical "
        "accuracy.")
    section.table(result.table, "Lesion-level AUC: CNN vs radiomics models (synthetic cohort).")
    if result.gradcam is not None:
        section.figure(result.gradcam.read_bytes(), "Grad-CAM of the last fold's CNN on its test "
                       "lesions: right and wrong predictions per class.")


DEMO_CNN_SECTIONS.add("deep_cnn", "CNN on lesion crops vs radiomics", 410, draw_demo_cnn)


def add_demo_cnn_sections(report: Report, result: DemoCnnResult) -> None:
    """Draw the registered sections of the demo's CNN (``DEMO_CNN_SECTIONS``)."""
    draw_sections(report, DEMO_CNN_SECTIONS, result)
