"""Report sections of a study's models: model table, ROC with CIs, calibration, decision curves,
selected features, SHAP summary, size subgroups, clinical models and nomogram."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from livermets._extras import available, install_hint
from livermets.errors import LivermetsError
from livermets.report.document import Section, figure_png
from livermets.stats.predictions import averaged
from livermets.study.runner import StudyResult

if TYPE_CHECKING:
    from livermets.models.clinical import ClinicalLogit

SYNTHETIC_NOTE = ("These results come from synthetic data with a known, planted signal; they "
                  "show that the pipeline works and say nothing about clinical accuracy.")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _auc_cell(m: dict[str, Any]) -> str:
    """AUC with its CI (binary), macro one-vs-rest AUC (multi-class) or the block's note."""
    if "macro_auc" in m:
        return f"macro {m['macro_auc']:.3f}"
    return _ci(m.get("auc")) or m.get("note", "")


def _ci(entry: dict[str, Any] | None, key: str = "ci") -> str:
    if not entry or entry.get(key) is None or entry.get("auc", entry.get("value")) is None:
        return ""
    value = entry.get("auc", entry.get("value"))
    lo, hi = entry[key]
    return f"{value:.3f} ({lo:.3f}-{hi:.3f})"


def model_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per model and split: AUC with DeLong and bootstrap CIs, operating point."""
    rows = []
    for model, entry in metrics["models"].items():
        for split, m in entry["splits"].items():
            row: dict[str, Any] = {"model": model, "split": split, "cases": m.get("n_cases")}
            if "auc" in m:
                row["AUC (DeLong 95% CI)"] = _ci(m["auc"])
                row["bootstrap 95% CI"] = "{:.3f}-{:.3f}".format(*m["auc_bootstrap"]["ci"])
                rep = m.get("auc_per_repeat")
                if rep and len(rep["values"]) > 1:
                    row["AUC per repeat (mean ± SD)"] = f"{rep['mean']:.3f} ± {rep['sd']:.3f}"
                for name in ("sensitivity", "specificity", "accuracy"):
                    if "youden" in m:
                        row[name] = _ci(m["youden"][name])
            elif "macro_auc" in m:
                row["macro AUC"] = f"{m['macro_auc']:.3f}"
                row["accuracy"] = _ci(m["accuracy"])
            rows.append(row)
    return pd.DataFrame(rows)


def _reference_split(predictions: pd.DataFrame) -> str:
    """The split shown in the figures: external or test when present, else CV."""
    splits = set(predictions["split"].unique())
    return next((s for s in ("external", "test", "cv") if s in splits), sorted(splits)[0])


def _binary_cases(result: StudyResult, split: str) -> pd.DataFrame:
    avg = averaged(result.predictions[result.predictions["split"] == split])
    avg["truth"] = (avg["y_true"].astype(str) == str(result.data.classes[-1])).astype(int)
    return avg


def roc_figure(result: StudyResult, split: str, n_boot: int = 200) -> bytes:
    """ROC curves of every model, with a pointwise bootstrap 95% band of sensitivity."""
    from livermets.stats import roc_auc, roc_curve

    plt = _plt()
    cases = _binary_cases(result, split)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    grid = np.linspace(0, 1, 101)
    rng = np.random.default_rng(result.config.seed)
    for model, g in cases.groupby("model", sort=False):
        truth, score = g["truth"].to_numpy(), g["y_prob"].to_numpy()
        if truth.min() == truth.max():
            continue
        curve = roc_curve(truth, score, positive=1, direction="<")
        auc = roc_auc(truth, score, positive=1, direction="<")
        (line,) = ax.plot(1 - curve.specificity, curve.sensitivity, lw=1.5,
                          label=f"{model}: {auc.auc:.2f} ({auc.ci[0]:.2f}-{auc.ci[1]:.2f})")
        pos, neg = np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)
        band = []
        for _ in range(n_boot):
            idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
            c = roc_curve(truth[idx], score[idx], positive=1, direction="<")
            fpr, tpr = (1 - c.specificity)[::-1], c.sensitivity[::-1]
            band.append(np.interp(grid, fpr, tpr))
        lo, hi = np.percentile(band, [2.5, 97.5], axis=0)
        ax.fill_between(grid, lo, hi, alpha=0.12, color=line.get_color())
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC ({split})")
    ax.legend(fontsize=7, loc="lower right", title="AUC (DeLong 95% CI)", title_fontsize=7)
    return figure_png(fig)


def calibration_section(section: Section, result: StudyResult, split: str) -> None:
    """Smoothed calibration curves and calibration intercept / slope / Brier per model."""
    from livermets.stats import calibration, smoothed_calibration

    plt = _plt()
    cases = _binary_cases(result, split)
    fig, ax = plt.subplots(figsize=(5, 5))
    rows = []
    for model, g in cases.groupby("model", sort=False):
        truth, prob = g["truth"].to_numpy(), np.clip(g["y_prob"].to_numpy(), 1e-6, 1 - 1e-6)
        if truth.min() == truth.max():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            curve = smoothed_calibration(truth, prob, positive=1)
            try:
                summary = calibration(truth, prob, positive=1,
                                      groups=min(10, max(3, len(g) // 5))).to_dict()
            except LivermetsError as exc:  # e.g. too few distinct risks for Hosmer-Lemeshow
                rows.append({"model": model, "note": str(exc)})
                continue
            finally:
                ax.plot(curve["predicted"], curve["observed"], label=model)
        rows.append({"model": model, **{k: _fmt(v) for k, v in summary.items()
                                        if k in ("intercept", "slope", "brier", "oe_ratio")}})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(xlabel="predicted probability", ylabel="observed proportion", xlim=(0, 1),
           ylim=(0, 1), title=f"Calibration ({split})")
    ax.legend(fontsize=7)
    section.figure(figure_png(fig), f"Smoothed (lowess) calibration curves, {split} predictions.")
    if rows:
        section.table(pd.DataFrame(rows), "Calibration intercept and slope (95% CI), Brier score.",
                      csv=f"calibration_{split}")


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "estimate" in value:
        ci = value.get("ci")
        return (f"{value['estimate']:.3f}" +
                (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci and None not in ci else ""))
    if isinstance(value, dict) and "value" in value:
        return _fmt({"estimate": value["value"], "ci": value.get("ci")})
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def dca_figure(result: StudyResult, split: str) -> tuple[bytes, pd.DataFrame]:
    """Decision curves (net benefit) of every model with treat-all and treat-none: the figure
    and the net benefit table (threshold x strategy)."""
    from livermets.stats import decision_curve

    plt = _plt()
    cases = _binary_cases(result, split)
    thresholds = np.round(np.arange(0.05, 0.96, 0.01), 2)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    curve = None
    table = pd.DataFrame({"threshold": thresholds})
    for model, g in cases.groupby("model", sort=False):
        curve = decision_curve(g["truth"].to_numpy(), g["y_prob"].to_numpy(), thresholds,
                               positive=1)
        ax.plot(curve.thresholds, curve.model, label=model)
        table[str(model)] = curve.model
    if curve is not None:
        ax.plot(curve.thresholds, curve.treat_all, color="grey", ls="--", label="treat all")
        ax.plot(curve.thresholds, curve.treat_none, color="black", lw=0.8, label="treat none")
        ax.set_ylim(-0.05, max(0.05, curve.prevalence * 1.1))
        table["treat all"], table["treat none"] = curve.treat_all, curve.treat_none
    ax.set(xlabel="threshold probability", ylabel="net benefit", title=f"Decision curves ({split})")
    ax.legend(fontsize=7)
    return figure_png(fig), table


def selected_feature_table(result: StudyResult, top: int = 20) -> pd.DataFrame:
    """Features of each final model and how often each was selected across outer CV folds."""
    rows = []
    used, preds = result.fold_features, result.predictions
    for name, final in result.finals.items():
        cv = used[(used["model"] == name) & (used["split"] == "cv")]
        fits = preds[(preds["model"] == name) & (preds["split"] == "cv")]
        n_folds = len(fits[["repeat", "fold"]].drop_duplicates())
        counts = cv["feature"].value_counts()
        for feature in final.fit.features[:top]:
            row = {"model": name, "feature": feature}
            if n_folds:  # three_way runs no CV: no stability to show
                row["selected in CV folds"] = f"{int(counts.get(feature, 0))}/{n_folds}"
            rows.append(row)
    return pd.DataFrame(rows)


def feature_count_table(result: StudyResult) -> pd.DataFrame:
    """Per final model: features in, after the redundancy filter, after selection, used."""
    from livermets.models.pipeline import feature_counts

    dev = result.data.subset(result.development)
    rows = []
    for name, final in result.finals.items():
        counts = feature_counts(final.fit.pipeline, dev.columns_for(final.fit.spec))
        if counts is None:
            continue
        spec = final.fit.spec
        row = {"model": name, "input features": counts["input"]}
        if "redundancy" in counts:
            row[f"after the redundancy filter (|r| > {spec.redundancy:g} removed)"] = \
                counts["redundancy"]
        if "select" in counts:
            row[f"after selection ({spec.select})"] = counts["select"]
        row["used by the classifier"] = counts["classifier"]
        rows.append(row)
    # whole counts stay whole where a model lacks a step (an empty cell, not 46.0)
    return pd.DataFrame(rows).convert_dtypes(infer_objects=False, convert_string=False,
                                             convert_boolean=False, convert_floating=False)


def best_model(result: StudyResult) -> str:
    """The radiomics model with the highest CV (three_way: validation; else held-out) AUC."""
    scores = {}
    for name, entry in result.metrics["models"].items():
        spec = next(s for s in result.specs if s.name == name)
        if spec.inputs != "radiomics":
            continue
        splits = entry["splits"]  # chosen on CV or on validation, never on test
        split = splits.get("cv") or splits.get("validation") or next(iter(splits.values()))
        scores[name] = split.get("auc", {}).get("auc") or split.get("macro_auc") or 0.0
    return max(scores, key=lambda k: scores[k]) if scores else next(iter(result.finals))


def shap_section(section: Section, result: StudyResult, model: str) -> None:
    """SHAP summary (beeswarm) and permutation importance of one final model."""
    from livermets.models.explain import importance_table, shap_values

    plt = _plt()
    final = result.finals[model]
    dev = result.data.subset(result.development)
    X = dev.X[dev.columns_for(final.fit.spec)]
    explain = result.config.explain
    if explain.shap and final.spec.inputs == "radiomics" and not available("explain"):
        section.note(f"SHAP summary not drawn: the optional package shap is not installed "
                     f"({install_hint('explain')}).")
    elif explain.shap and final.spec.inputs == "radiomics":
        import shap

        values, inputs, kind = shap_values(final.fit.pipeline, X, result.config.seed,
                                           explain.max_rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shap.summary_plot(values.to_numpy(), inputs, show=False, max_display=15,
                              plot_size=(7, 5))
        section.figure(figure_png(plt.gcf()),
                       f"SHAP summary of {model} ({kind} explainer, final model on the "
                       f"development data, {len(inputs)} cases).")
    if explain.permutation:
        table = importance_table(final.fit.pipeline, X, dev.y, final.fit.features[:30],
                                 result.config.seed, repeats=5)
        score = "AUC" if dev.binary else "macro one-vs-rest AUC"
        section.table(table.head(15).round(4),
                      f"Permutation importance of {model}: mean drop in {score} when a selected "
                      "feature is shuffled (development data, 5 shuffles; all ranked in "
                      f"tables/permutation_importance_{model}.csv).",
                      csv=f"permutation_importance_{model}", full=table)


def subgroup_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """AUC and operating point per subgroup level (e.g. size group) and model."""
    rows = []
    for model, entry in metrics["models"].items():
        for group, levels in entry.get("subgroups", {}).items():
            for level, splits in levels.items():
                for split, m in splits.items():
                    row = {"model": model, group: level, "split": split,
                           "cases": m.get("n_cases"), "positives": m.get("n_positive"),
                           "AUC (95% CI)": _auc_cell(m)}
                    if "youden" in m:
                        row["sensitivity"] = _ci(m["youden"]["sensitivity"])
                        row["specificity"] = _ci(m["youden"]["specificity"])
                    rows.append(row)
    return pd.DataFrame(rows)


def patient_table(metrics: dict[str, Any], method: str) -> pd.DataFrame:
    """Patient-level AUC of the aggregated lesion predictions."""
    rows = []
    for model, entry in metrics["models"].items():
        for split, m in entry.get("patient_level", {}).items():
            row = {"model": model, "split": split, "aggregation": method,
                   "patients": m.get("n_cases"), "AUC (95% CI)": _auc_cell(m)}
            if "n_mixed_excluded" in m:
                row["left out (lesions of several classes)"] = m["n_mixed_excluded"]
            rows.append(row)
    return pd.DataFrame(rows)


METHOD_WORDS = {"ml": "maximum likelihood", "firth": "Firth's penalised likelihood"}


def clinical_section(section: Section, result: StudyResult) -> None:
    """Univariable and multivariable odds ratios, and the nomogram of the logistic models."""
    from livermets.models.clinical import clinical_logit_of, univariable_table
    from livermets.models.nomogram import nomogram_figure
    from livermets.report.forest import forest_figure

    dev = result.data.subset(result.development)
    clin = dev.X[dev.clinical_columns]
    positive = (dev.y == len(dev.classes) - 1).astype(int)
    method = result.config.clinical.method
    uni = univariable_table(clin.fillna(clin.median()), positive, method)
    section.table(_or_format(uni), csv="odds_ratios_univariable", full=uni,
                  caption="Univariable logistic regression (development data): odds "
                  "ratio per unit, 95% Wald CI, p-value"
                  + ("; Firth's penalised likelihood" if method == "firth" else
                     "; Firth's penalised likelihood where a variable separates the classes"
                     if method == "auto" else "") + ".")
    for name in ("clinical", "combined"):
        final = result.finals.get(name)
        if final is None:
            continue
        model = final.fit.pipeline.steps[-1][1]
        logit = clinical_logit_of(final.fit.pipeline)
        for line in clinical_summary(logit, name, [str(c) for c in dev.classes]):
            section.text(line)
        for line in getattr(logit, "warnings_", []):
            section.note(f"{name} model: {line}")
        section.table(_or_format(logit.table_), csv=f"odds_ratios_{name}", full=logit.table_,
                      caption=f"Multivariable logistic regression: {name} "
                      f"model (selection: {result.config.clinical.selection}; fitted by "
                      f"{METHOD_WORDS.get(getattr(logit, 'method_', 'ml'))}; Wald 95% CIs and "
                      "p-values).")
        fig = forest_figure(logit.table_, "odds_ratio", "ci_low", "ci_high",
                            title=f"{name} model")
        if fig is not None:
            section.figure(figure_png(fig), f"Forest plot of the {name} model's odds ratios "
                           "(95% Wald CIs, log scale).")
        if result.config.clinical.nomogram:
            coefs = logit.params_.drop("const")
            frame = clin.fillna(clin.median())
            if hasattr(model, "clinical_"):
                from livermets.models.clinical import rad_score

                Xd = dev.X[dev.columns_for(final.fit.spec)]
                radiomics = model._split(Xd.fillna(Xd.median()))[0]
                frame = frame.assign(rad_score=rad_score(
                    model.radiomics_.predict_proba(radiomics)[:, 1]))
            fig = nomogram_figure(coefs, float(logit.params_["const"]), frame,
                                  f"Nomogram: {name} model")
            section.figure(figure_png(fig), f"Nomogram of the {name} model: read each "
                           "predictor's points, add them, and read the predicted probability.")


def clinical_summary(logit: ClinicalLogit | None, name: str,
                     classes: list[str] | None = None) -> list[str]:
    """The selection rule that applied and the events per variable of a clinical logistic model,
    in words (``classes``: the study's class names, which the model knows as codes 0, 1; no
    lines for None, a pipeline without one)."""
    lines = []
    if getattr(logit, "selection_rule_", None):
        lines.append(f"Variable selection of the {name} model: {logit.selection_rule_}.")
    epv = getattr(logit, "epv_", None)
    if epv:
        rarer = epv["rarer_class"]
        if classes and rarer.isdigit() and int(rarer) < len(classes):
            rarer = classes[int(rarer)]
        lines.append(
            f"Events per variable ({name} model): {epv['events']} events in the rarer class "
            f"{rarer!r} of {epv['n']} cases; {epv['candidates']} candidate "
            f"variable(s), EPV {epv['epv_candidates']:.1f}; {epv['selected']} selected, EPV "
            f"{epv['epv_selected']:.1f}.")
    return lines


def _or_cells(row: pd.Series) -> tuple[str, str, str]:
    """OR (95% CI), p and a note for one row of an odds-ratio table."""
    separated = bool(row.get("separated", False))
    if separated and row.get("method", "ml") != "firth":
        limit = "inf" if row["coef"] > 0 else "0"
        return (f"not estimable (OR -> {limit})", "",
                "separation: maximum-likelihood estimate infinite")
    cell = f"{row['odds_ratio']:.3g} ({row['ci_low']:.3g}-{row['ci_high']:.3g})"
    p = f"{row['p']:.3g}" if row["p"] >= 0.001 else "<0.001"
    return cell, p, "separation: Firth estimate" if separated else ""


def _or_format(table: pd.DataFrame) -> pd.DataFrame:
    cells = [_or_cells(row) for _, row in table.iterrows()]
    out = pd.DataFrame({"variable": table["variable"].to_numpy(),
                        "OR (95% CI)": [c[0] for c in cells], "p": [c[1] for c in cells]})
    if any(c[2] for c in cells):
        out["note"] = [c[2] for c in cells]
    return out


def binary_confusion_table(metrics: dict[str, Any], classes: list[str]) -> pd.DataFrame:
    """TP / FN / FP / TN per model and split at the training cut-off (cases per repeat)."""
    rows = []
    for model, entry in metrics["models"].items():
        for split, m in entry["splits"].items():
            counts = (m.get("youden") or {}).get("confusion")
            if counts:
                rows.append({"model": model, "split": split,
                             f"true {classes[1]}, called {classes[1]} (TP)": counts["tp"],
                             f"true {classes[1]}, called {classes[0]} (FN)": counts["fn"],
                             f"true {classes[0]}, called {classes[1]} (FP)": counts["fp"],
                             f"true {classes[0]}, called {classes[0]} (TN)": counts["tn"]})
    return pd.DataFrame(rows)


def add_confusion_tables(section: Section, metrics: dict[str, Any], classes: list[str]) -> None:
    """Confusion matrices: the 2 x 2 table at the cut-off, or true x most probable class."""
    if len(classes) == 2:
        table = binary_confusion_table(metrics, classes)
        if not table.empty:
            section.table(table.round(1), "Confusion matrices at each fold's training Youden "
                          "cut-off (cases per repeat; averaged over repeats).", csv="confusion")
        return
    for model, entry in metrics["models"].items():
        for split, m in entry["splits"].items():
            confusion = m.get("confusion")
            if not confusion:
                continue
            names = confusion["classes"]
            table = pd.DataFrame(confusion["counts"], index=[f"true {c}" for c in names],
                                 columns=[f"called {c}" for c in names])
            section.table(table, f"Confusion matrix of {model} ({split}): true class x most "
                          f"probable class over {len(names)} classes (probabilities averaged "
                          "over repeats).", index=True, csv=f"confusion_{model}_{split}")


def draw_models(section: Section, result: StudyResult) -> None:
    """The models section: design, warnings, the rounded model table, DeLong comparisons and
    confusion matrices."""
    metrics = result.metrics
    if result.config.synthetic:
        section.note(SYNTHETIC_NOTE)
    v = result.config.validation
    three_way = metrics.get("three_way")
    if three_way:
        counts = "; ".join(f"{role} {m['n_patients']} patients ({m['n_cases']} cases)"
                           for role, m in three_way["splits"].items())
        section.text(f"Design: three_way hold-out from the column "
                     f"{three_way['split_column']!r}: {counts}. Rule: {three_way['rule']}"
                     + (f" Optuna TPE with {v.tuning.trials} trials scored on the validation "
                        "rows." if v.tuning.trials else ""))
    else:
        section.text(
            f"Design: {v.design}; {v.folds} folds x {v.repeats} repeats grouped by patient "
            f"(all lesions of a patient on one side of every split)"
            + (f", Optuna TPE with {v.tuning.trials} trials on {v.tuning.inner_folds} inner folds"
               if v.tuning.trials else "")
            + f". {len(result.data.y)} cases of {len(np.unique(result.data.patient_id))} patients."
            " Cut-offs (Youden) are chosen on the training folds' inner predictions."
        )
    for entry in metrics["models"].values():
        for line in entry.get("warnings", []):
            section.note(f"Warning: {line}")
    table = model_table(metrics)  # the rounded summary (also tables/models.csv, metrics.json)
    section.table(table, "Discrimination per model and split: AUC with DeLong and bootstrap CIs "
                  "(probabilities averaged over repeats), operating point at the training "
                  "Youden cut-off with Wilson CIs.", csv="models")
    if metrics.get("comparisons"):
        comp = pd.DataFrame(metrics["comparisons"])
        section.table(comp.round(4), "Paired DeLong comparisons of AUCs, Holm-adjusted p.",
                      csv="comparisons", full=comp)
    add_confusion_tables(section, metrics, [str(c) for c in result.data.classes])


def draw_roc(section: Section, result: StudyResult) -> None:
    """ROC curves of every model on the reference split."""
    split = _reference_split(result.predictions)
    section.figure(roc_figure(result, split), f"ROC curves ({split}) with pointwise bootstrap "
                   "95% bands; legend: AUC with DeLong 95% CI.")


def draw_calibration(section: Section, result: StudyResult) -> None:
    """Calibration on the reference split."""
    calibration_section(section, result, _reference_split(result.predictions))


def draw_dca(section: Section, result: StudyResult) -> None:
    """Decision curves on the reference split, with the net benefit at chosen thresholds."""
    split = _reference_split(result.predictions)
    png, net_benefit = dca_figure(result, split)
    section.figure(png, f"Net benefit ({split} predictions).")
    shown = net_benefit[np.isin(net_benefit["threshold"], [0.1, 0.2, 0.3, 0.4, 0.5])]
    section.table(shown.round(3), f"Net benefit at chosen thresholds ({split}); every threshold "
                  f"from 0.05 to 0.95 in tables/decision_curve_{split}.csv.",
                  csv=f"decision_curve_{split}", full=net_benefit)


def draw_features(section: Section, result: StudyResult) -> None:
    """Selected features with their stability, and the features through each pipeline."""
    section.table(selected_feature_table(result), "Features kept by each final model (up to 20) "
                  "and how often each was kept across the outer CV folds (stability).",
                  csv="selected_features")
    flow = feature_count_table(result)
    if not flow.empty:
        section.table(flow, "Features through each final model's pipeline (development data; "
                      "empty: the model has no such step).", csv="feature_counts")


def draw_shap(section: Section, result: StudyResult) -> None:
    """SHAP and permutation importance of the best radiomics model."""
    shap_section(section, result, best_model(result))


def draw_subgroups(section: Section, result: StudyResult) -> None:
    """Discrimination per subgroup."""
    section.table(subgroup_table(result.metrics),
                  "Discrimination per subgroup (e.g. lesion size group).", csv="subgroups")


def draw_patient_level(section: Section, result: StudyResult) -> None:
    """Patient-level AUC of aggregated lesion predictions."""
    method = result.config.aggregation
    section.table(patient_table(result.metrics, method),
                  "Patient-level AUC of lesion predictions aggregated per patient "
                  f"({method}); "
                  + ("a patient is positive if any lesion is." if result.data.binary else
                     "per-class probabilities aggregated and renormalised; a patient whose "
                     "lesions have different classes has no single class and is left out."))
