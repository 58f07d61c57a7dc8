"""Report section of a study's deep models: out-of-fold Grad-CAM galleries and the classical
models refit on CNN embeddings (read from ``OUT/deep/NAME/``, so no torch is imported here)."""

from __future__ import annotations

import pandas as pd

from livermets.report.document import Section
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
