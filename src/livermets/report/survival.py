"""The survival section: Cox table and forest plot, C-index per split and model, Kaplan-Meier
curves of the risk groups with the numbers at risk."""

from __future__ import annotations

import pandas as pd

from livermets.report.document import Section, figure_png
from livermets.report.forest import forest_figure
from livermets.report.km import km_axes, time_unit
from livermets.study.survival import SurvivalAnalysis


def survival_section(section: Section, analysis: SurvivalAnalysis,
                     time_column: str | None) -> None:
    """Cox table, C-index per split and Kaplan-Meier curves of the risk groups of ``analysis``
    (``livermets.study.survival.survival_analysis``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    section.text("Cox model on the development cases with the out-of-fold rad-score; risk groups "
                 f"at the development cut-off {analysis.cutoff:.3f} of the linear predictor. "
                 "The development C-index is apparent (same cases as the fit); the external one "
                 "is not.")
    cox = analysis.cox.reset_index(names="covariate")
    section.table(cox.round(4), "Cox proportional hazards: hazard ratios with 95% CIs.",
                  csv="cox", full=cox)
    fig = forest_figure(cox, "hr", "hr_lower", "hr_upper", label="covariate",
                        xlabel="hazard ratio (95% CI)", title="Cox model")
    if fig is not None:
        section.figure(figure_png(fig), "Forest plot of the Cox model's hazard ratios (95% CIs, "
                       "log scale).")
    rows, at_risk = [], []
    unit = time_unit(time_column)
    fig, axes = plt.subplots(1, len(analysis.splits), figsize=(5 * len(analysis.splits), 4),
                             squeeze=False)
    for ax, (split, entry) in zip(axes[0], analysis.splits.items(), strict=True):
        rows.append({"split": split, "cases": entry["n"], "events": entry["events"],
                     "C-index": round(entry["c_index"], 3),
                     "log-rank p": (f"{entry['logrank']['p']:.3g}" if "logrank" in entry
                                    else "")})
        curves = {f"{risk} risk": km for risk, km in entry["km"].items()}
        table = km_axes(ax, curves, unit, title=split)
        at_risk.append(table.reset_index(names="group").assign(split=split))
    section.table(pd.DataFrame(rows), "Discrimination of the Cox linear predictor and log-rank "
                  "test of the risk groups.", csv="cox_discrimination")
    c_index = analysis.c_index_models
    section.table(c_index.round({"C-index": 3}),
                  "Harrell's C-index of every model's out-of-fold probability against the "
                  "event times (higher probability = higher risk), per split.",
                  csv="c_index_models", full=c_index)
    section.figure(figure_png(fig), "Kaplan-Meier curves of the low- and high-risk groups, "
                   f"with 95% CIs (log scale, Greenwood), censored cases as ticks and the number "
                   f"at risk below; time in {unit}.")
    section.table(pd.concat(at_risk, ignore_index=True),
                  f"Number at risk in each risk group at the times of the figure ({unit}).",
                  csv="numbers_at_risk")
