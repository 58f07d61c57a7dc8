"""The multi-phase lesion-diagnosis section of the report: patient-wise AUC-8 / AUC-2 per rule,
per-class AUCs, lesion detection and classification, Dice, and per-class ROC curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from livermets.deep.multiphase.evaluate import ALL, MultiphaseEvaluation
from livermets.report.document import Report, Section, figure_png
from livermets.report.segmentation import _fmt_ci

if TYPE_CHECKING:  # the workflow module imports torch; the report only reads its results
    from livermets.deep.multiphase.workflow import WorkflowResult

ORDER = 420
PRIMARY_RULE = "max_in_liver"
SYNTHETIC_NOTE = ("These results come from synthetic data: they show that the software works "
                  "end to end and are not an estimate of clinical accuracy.")


def _cohorts(evaluation: MultiphaseEvaluation | dict[str, MultiphaseEvaluation]
             ) -> dict[str, MultiphaseEvaluation]:
    return {"": evaluation} if isinstance(evaluation, MultiphaseEvaluation) else dict(evaluation)


def _with_cohort(name: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"Cohort": name, **row} if name else row


def summary_table(cohorts: dict[str, MultiphaseEvaluation]) -> pd.DataFrame:
    """Per cohort and rule: mean per-class AUC (bootstrap CI) and malignant-vs-benign AUC."""
    rows = []
    for name, ev in cohorts.items():
        for r in ev.summary.to_dict(orient="records"):
            rows.append(_with_cohort(name, {
                "Rule": r["rule"],
                "Patients": r["n_patients"],
                f"AUC-{r['n_classes']}, mean (95% CI)": _fmt_ci(
                    r["auc_mean"], r["auc_mean_ci_low"], r["auc_mean_ci_high"]),
                "Classes averaged": f"{r['n_classes_estimable']} of {r['n_classes']}",
                "AUC-2 malignant vs benign (95% CI)": _fmt_ci(
                    r["auc_malignant"], r["auc_malignant_ci_low"], r["auc_malignant_ci_high"])
                or r["note"],
                "Malignant / benign": f"{r['n_malignant']} / {r['n_benign']}",
            }))  # fmt: skip
    return pd.DataFrame(rows)


def class_auc_table(evaluation: MultiphaseEvaluation) -> pd.DataFrame:
    """Classes as rows, rules as columns: 'AUC (95% CI)' or why there is none."""
    table = evaluation.class_auc
    counts = table.drop_duplicates("class").set_index("class")
    out = pd.DataFrame({"Class": list(evaluation.classes)})
    out["Patients with / without"] = [f"{counts.at[c, 'n_pos']} / {counts.at[c, 'n_neg']}"
                                      for c in evaluation.classes]
    for rule, g in table.groupby("rule", sort=False):
        cells = {r["class"]: _fmt_ci(r["auc"], r["ci_low"], r["ci_high"]) or r["note"]
                 for r in g.to_dict(orient="records")}
        out[rule] = [cells.get(c, "") for c in evaluation.classes]
    return out


def lesion_table(cohorts: dict[str, MultiphaseEvaluation]) -> pd.DataFrame:
    """Detection (sensitivity, precision, FP per patient) and classification accuracy."""
    rows = []
    for name, ev in cohorts.items():
        for r in ev.lesions.to_dict(orient="records"):
            label = {"all": ALL, "size_group": f"size {r['stratum']}",
                     "class": f"class {r['stratum']}"}.get(r["by"], r["stratum"])
            rows.append(_with_cohort(name, {
                "Lesions": label,
                "Reference": r["n_reference"],
                "Detected": r["n_detected"],
                "Sensitivity (95% CI)": _fmt_ci(r["sensitivity"], r["sensitivity_ci_low"],
                                                r["sensitivity_ci_high"]),
                "Predicted": r["n_predicted"],
                "False positives": r["n_false_positive"],
                "Precision (95% CI)": _fmt_ci(r["precision"], r["precision_ci_low"],
                                              r["precision_ci_high"]),
                "FP per patient (95% CI)": _fmt_ci(r["fp_per_patient"],
                                                   r["fp_per_patient_ci_low"],
                                                   r["fp_per_patient_ci_high"]),
                "Correct class": r["n_correct"],
                "Accuracy (95% CI)": _fmt_ci(r["accuracy"], r["accuracy_ci_low"],
                                             r["accuracy_ci_high"]),
            }))  # fmt: skip
    return pd.DataFrame(rows)


def dice_table(cohorts: dict[str, MultiphaseEvaluation]) -> pd.DataFrame:
    """Per measure: patients with the structure, mean Dice (95% CI), median."""
    rows = []
    for name, ev in cohorts.items():
        for r in ev.dice.to_dict(orient="records"):
            rows.append(_with_cohort(name, {
                "Structure": r["measure"],
                "Patients": r["n_patients"],
                "Dice, mean (95% CI)": _fmt_ci(r["mean"], r["ci_low"], r["ci_high"], 3),
                "Dice, median": _fmt_ci(r["median"], np.nan, np.nan, 3),
            }))  # fmt: skip
    return pd.DataFrame(rows)


def _rule(evaluation: MultiphaseEvaluation) -> str:
    rules = list(dict.fromkeys(evaluation.summary["rule"]))
    return PRIMARY_RULE if PRIMARY_RULE in rules or not rules else rules[0]


def roc_figure(cohorts: dict[str, MultiphaseEvaluation]) -> bytes:
    """PNG: one panel per cohort, one ROC curve per class (and malignancy) of the main rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cohorts), figsize=(5.2 * len(cohorts), 5.0), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (name, ev) in zip(axes[0], cohorts.items(), strict=True):
        rule = _rule(ev)
        aucs = ev.class_auc[ev.class_auc["rule"] == rule].set_index("class")
        malignant = ev.summary[ev.summary["rule"] == rule]
        for i, cls in enumerate([*ev.classes, "malignant"]):
            points = ev.roc[(ev.roc["rule"] == rule) & (ev.roc["class"] == cls)]
            if points.empty:
                continue
            if cls == "malignant":
                m = malignant.iloc[0]
                ci = _fmt_ci(m["auc_malignant"], m["auc_malignant_ci_low"],
                             m["auc_malignant_ci_high"])
                style = {"color": "black", "ls": "--", "lw": 2.0}
                label = f"malignant vs benign: {ci}"
            else:
                a = aucs.loc[cls]
                style = {"color": colours(i % 10), "lw": 1.4}
                label = f"{cls}: {_fmt_ci(a['auc'], a['ci_low'], a['ci_high'])}"
            ax.plot(points["fpr"], points["tpr"], label=label, **style)
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
        title = f"{name} ({rule})" if name else rule
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(-0.02, 1.02),
               ylim=(-0.02, 1.02), aspect="equal")
        if ax.get_legend_handles_labels()[0]:  # no curve when no class is estimable
            ax.legend(fontsize=7, loc="lower right", title=f"AUC (DeLong {ev.level:.0%} CI)",
                      title_fontsize=7)
        else:
            ax.text(0.5, 0.5, "no estimable class", ha="center", va="center")
    fig.tight_layout()
    return figure_png(fig)


def add_multiphase_sections(
    report: Report,
    evaluation: MultiphaseEvaluation | dict[str, MultiphaseEvaluation],
    *,
    synthetic: bool,
) -> None:
    """Add the multi-phase diagnosis section (one cohort, or several by name) to ``report``."""
    cohorts = _cohorts(evaluation)
    if cohorts:
        draw_multiphase(report.section("multiphase", "Multi-phase lesion diagnosis",
                                       order=ORDER), cohorts, synthetic=synthetic or
                        report.synthetic)


def draw_multiphase(section: Section, cohorts: dict[str, MultiphaseEvaluation], *,
                    synthetic: bool) -> None:
    """The multi-phase diagnosis section of evaluated cohorts (by name)."""
    first = next(iter(cohorts.values()))
    level = f"{first.level:.0%}"
    if synthetic:
        section.note(SYNTHETIC_NOTE)
    section.text(
        "Patient-wise: a patient is positive for a class when they have at least one reference "
        "lesion of it. Rules: max_in_liver = the highest voxel probability of the class inside "
        "the liver; volume = predicted lesion volume of the class; patient_head = the network's "
        f"patient classifier. AUC-{len(first.classes)} is the mean of the one-vs-rest per-class "
        "AUCs over the classes with positive and negative patients (CI: percentile bootstrap "
        "over patients); AUC-2 is malignant vs benign (DeLong CI). Lesion-wise: a prediction "
        "detects a reference lesion when their Dice exceeds the matching threshold "
        "(one-to-one matching)."
    )
    section.table(summary_table(cohorts), f"Patient-wise discrimination per rule, {level} CIs.")
    for name, ev in cohorts.items():
        where = f" ({name})" if name else ""
        section.table(class_auc_table(ev),
                      f"Per-class one-vs-rest patient AUC{where}, DeLong {level} CI; rules as "
                      "columns.")
    section.table(lesion_table(cohorts),
                  f"Lesion detection and classification, Wilson {level} CIs (lesions counted as "
                  "independent); sensitivity and accuracy by reference lesion size and class, "
                  "precision by predicted lesion size and class; FP per patient with an exact "
                  "Poisson CI.")
    for name, ev in cohorts.items():
        if ev.confusion.to_numpy().sum():
            where = f" ({name})" if name else ""
            section.table(ev.confusion, f"Lesion confusion matrix{where}: reference class (rows; "
                          "none = a predicted lesion matching no reference lesion) x predicted "
                          f"class of the matched lesion (columns; missed = not detected), over "
                          f"{len(ev.classes)} classes.", index=True)
    section.table(dice_table(cohorts),
                  f"Voxel-wise Dice per patient: mean with a t {level} CI over patients where "
                  "the reference or the prediction has the structure.")
    section.figure(roc_figure(cohorts),
                   "Patient-wise ROC curve of each class and of malignant vs benign (dashed); "
                   f"legend: AUC with DeLong {level} CI.")


def add_workflow_sections(report: Report, result: WorkflowResult, *, synthetic: bool) -> None:
    """Design and headline table, then the evaluation sections of every phase scenario."""
    draw_workflow_design(report.section("multiphase-design", "Multi-phase lesion network: "
                                        "design", order=410), result)
    evaluations = workflow_evaluations(result)
    if evaluations:
        add_multiphase_sections(report, evaluations, synthetic=synthetic)


def workflow_evaluations(result: WorkflowResult) -> dict[str, MultiphaseEvaluation]:
    """The evaluation of every cohort and phase scenario, by name (e.g. 'internal (all
    phases)')."""
    return {f"{cohort} ({scenario})": ev
            for scenario in dict.fromkeys(r.scenario for r in result.results)
            for cohort, ev in result.evaluations(scenario).items()}


def draw_workflow_design(section: Section, result: WorkflowResult) -> None:
    """The multi-phase design: patients per role, training, the headline table."""
    counts = result.split.as_table()["role"].value_counts()
    section.text(
        f"Training patients: {counts.get('train', 0)}; internal test: "
        f"{counts.get('internal', 0)}; external cohort: {counts.get('external', 0)}. "
        f"{result.iterations} training iterations ({result.train_seconds:.0f} s). Phases are "
        "assumed registered to the venous grid; a missing delayed phase is skipped by the fusion "
        "module. The headline table compares all phases with the delayed phase removed at test "
        "time.")
    section.table(result.summary().round(3), caption="Headline numbers (max-inside-liver rule)")


def write_workflow_report(result: WorkflowResult, path: str | Path, *, synthetic: bool) -> Path:
    """An HTML report of a workflow run."""
    report = Report("livermets: multi-phase liver lesion diagnosis", synthetic)
    add_workflow_sections(report, result, synthetic=synthetic)
    return report.write(path)


def write_evaluation_report(evaluations: dict[str, MultiphaseEvaluation], path: str | Path, *,
                            synthetic: bool) -> Path:
    """An HTML report of a trained model evaluated on a labelled cohort (per centre)."""
    report = Report("livermets: multi-phase model evaluation", synthetic)
    add_multiphase_sections(report, evaluations, synthetic=synthetic)
    return report.write(path)
