"""``livermets stats ...``: the statistics layer on any CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table

from livermets.cli._common import console, new_app, print_json
from livermets.errors import ConfigError, InputFileError
from livermets.stats._validate import require_columns
from livermets.stats.calibration import calibration as calibration_stats
from livermets.stats.compare import compare_aucs
from livermets.stats.dca import decision_curve, decision_curve_survival, parse_thresholds
from livermets.stats.mrmc import mrmc as mrmc_stats
from livermets.stats.mrmc import mrmc_data
from livermets.stats.roc import roc_auc
from livermets.stats.survival import harrell_c, kaplan_meier, logrank_test, survival_inputs
from livermets.stats.thresholds import operating_point

app = new_app("Diagnostic-accuracy, calibration, decision-curve, survival and MRMC statistics.")

CSV = typer.Option(..., "--csv", help="CSV file with one row per case.")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
POSITIVE = typer.Option(None, "--positive", help="Label of the positive class if truth is not 0/1.")


def _read(path: Path, columns: list[str | None]) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(f"CSV file not found: {path}. Check the --csv path.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(f"Cannot read {path} as CSV ({exc}); save it as UTF-8 CSV.") from None
    require_columns(frame, columns, source=str(path))
    return frame


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"{_fmt(value[0])} - {_fmt(value[1])}"
    return str(value)


def _show(title: str, rows: list[tuple[str, Any]]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("statistic", style="bold")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, _fmt(value))
    console.print(table)


@app.command()
def roc(
    csv: Path = CSV,
    truth: str = typer.Option(..., "--truth", help="Truth column (0/1 or two labels)."),
    score: str = typer.Option(..., "--score", help="Score column (higher = more likely positive)."),
    positive: str | None = POSITIVE,
    ci: str = typer.Option("delong", "--ci", help="CI method: delong or bootstrap."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap replicates."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    boot_method: str = typer.Option("percentile", "--boot-method", help="percentile or bca."),
    direction: str = typer.Option("auto", "--direction", help="auto, '<' or '>' (as pROC)."),
    json_out: bool = JSON,
) -> None:
    """AUC with a DeLong or bootstrap confidence interval."""
    frame = _read(csv, [truth, score])
    res = roc_auc(frame[truth], frame[score], positive=positive, ci=ci,  # type: ignore[arg-type]
                  n_boot=n_boot, seed=seed, boot_method=boot_method,  # type: ignore[arg-type]
                  direction=direction)  # type: ignore[arg-type]
    if json_out:
        print_json(res.to_dict())
        return
    _show(f"AUC of {score}", [("AUC", res.auc), ("95% CI", res.ci), ("CI method", res.ci_method),
                              ("variance", res.variance), ("positives", res.n_pos),
                              ("negatives", res.n_neg), ("direction", res.direction)])


@app.command()
def delong(
    csv: Path = CSV,
    truth: str = typer.Option(..., "--truth", help="Truth column."),
    score_a: str = typer.Option(..., "--score-a", help="First score column."),
    score_b: str = typer.Option(..., "--score-b", help="Second score column."),
    positive: str | None = POSITIVE,
    unpaired: bool = typer.Option(False, "--unpaired", help="Treat the two scores as unpaired."),
    json_out: bool = JSON,
) -> None:
    """DeLong test of two AUCs (paired by default) with the CI of their difference."""
    frame = _read(csv, [truth, score_a, score_b])
    res = compare_aucs(frame[truth], frame[score_a], frame[score_b], positive=positive,
                       paired=not unpaired)
    if json_out:
        print_json(res.to_dict())
        return
    _show(f"DeLong test: {score_a} vs {score_b}",
          [("AUC a", res.auc_a), ("AUC b", res.auc_b), ("difference", res.diff),
           ("95% CI", res.ci), ("z", res.z), ("p", res.p), ("method", res.method)])


@app.command()
def threshold(
    csv: Path = CSV,
    truth: str = typer.Option(..., "--truth", help="Truth column."),
    score: str = typer.Option(..., "--score", help="Score column."),
    positive: str | None = POSITIVE,
    method: str = typer.Option("youden", "--method", help="youden, sens:0.9, spec:0.9, value:0.5."),
    ci_method: str = typer.Option(
        "wilson", "--ci-method", help="wilson, clopper-pearson, agresti-coull or wald."
    ),
    json_out: bool = JSON,
) -> None:
    """Operating point with sensitivity, specificity, accuracy, PPV, NPV and binomial CIs."""
    frame = _read(csv, [truth, score])
    res = operating_point(frame[truth], frame[score], method, positive=positive,
                          ci_method=ci_method)
    if json_out:
        print_json(res.to_dict())
        return
    rows: list[tuple[str, Any]] = [("threshold", res.threshold), ("method", res.method)]
    for name, metric in res.metrics.items():
        rows.append((name, metric.value))
        if metric.ci is not None:
            rows.append((f"  95% CI ({ci_method})", metric.ci))
    _show(f"Operating point of {score}", rows)


@app.command()
def calibration(
    csv: Path = CSV,
    truth: str = typer.Option(..., "--truth", help="Truth column."),
    prob: str = typer.Option(..., "--prob", help="Predicted probability column."),
    positive: str | None = POSITIVE,
    groups: int = typer.Option(10, "--groups", help="Hosmer-Lemeshow groups."),
    json_out: bool = JSON,
) -> None:
    """Calibration intercept and slope, Brier score, O:E ratio and Hosmer-Lemeshow test."""
    frame = _read(csv, [truth, prob])
    res = calibration_stats(frame[truth], frame[prob], groups=groups, positive=positive)
    if json_out:
        print_json(res.to_dict())
        return
    hl = res.hosmer_lemeshow
    _show(f"Calibration of {prob}", [
        ("calibration-in-the-large", res.intercept.value), ("  95% CI", res.intercept.ci),
        ("calibration slope", res.slope.value), ("  95% CI", res.slope.ci),
        ("Brier score", res.brier.value), ("  95% CI", res.brier.ci),
        ("O:E ratio", res.oe_ratio.value), ("  95% CI", res.oe_ratio.ci),
        ("Hosmer-Lemeshow chi2", hl.chi2), ("  df", hl.df), ("  p", hl.p)])


@app.command()
def dca(
    csv: Path = CSV,
    prob: str = typer.Option(..., "--prob", help="Predicted risk column."),
    truth: str | None = typer.Option(None, "--truth", help="Binary outcome column."),
    positive: str | None = POSITIVE,
    thresholds: str = typer.Option("0:0.99:0.01", "--thresholds", help="start:stop:step."),
    prevalence: float | None = typer.Option(None, "--prevalence", help="Case-control prevalence."),
    time: str | None = typer.Option(None, "--time", help="Survival time column."),
    event: str | None = typer.Option(None, "--event", help="Event indicator column."),
    horizon: float | None = typer.Option(None, "--horizon", help="Time point for survival DCA."),
    json_out: bool = JSON,
) -> None:
    """Decision curve: net benefit of the model, treat-all and treat-none."""
    thr = parse_thresholds(thresholds)
    survival = any(v is not None for v in (time, event, horizon))
    if survival:
        if time is None or event is None or horizon is None:
            raise ConfigError("Survival DCA needs --time, --event and --horizon together.")
        frame = _read(csv, [prob, time, event])
        res = decision_curve_survival(frame[time], frame[event], frame[prob], horizon, thr)
    else:
        if truth is None:
            raise ConfigError("Give --truth for a binary outcome, or --time/--event/--horizon.")
        frame = _read(csv, [truth, prob])
        res = decision_curve(frame[truth], frame[prob], thr, positive=positive,
                             prevalence=prevalence)
    if json_out:
        print_json(res.to_dict())
        return
    table = Table(title=f"Net benefit of {prob}")
    for col in ["threshold", "model", "treat all", "treat none"]:
        table.add_column(col, justify="right")
    for k in range(res.thresholds.size):
        table.add_row(f"{res.thresholds[k]:.2f}", f"{res.model[k]:.4f}",
                      f"{res.treat_all[k]:.4f}", f"{res.treat_none[k]:.4f}")
    console.print(table)


@app.command()
def cindex(
    csv: Path = CSV,
    time: str = typer.Option(..., "--time", help="Survival time column."),
    event: str = typer.Option(..., "--event", help="Event indicator column (0/1)."),
    score: str = typer.Option(..., "--score", help="Risk score column (higher = earlier event)."),
    json_out: bool = JSON,
) -> None:
    """Harrell's C-index with counts of concordant, discordant and tied pairs."""
    frame = _read(csv, [time, event, score])
    res = harrell_c(frame[time], frame[event], frame[score])
    if json_out:
        print_json(res.to_dict())
        return
    _show(f"Harrell's C of {score}", list(res.to_dict().items()))


@app.command()
def km(
    csv: Path = CSV,
    time: str = typer.Option(..., "--time", help="Survival time column."),
    event: str = typer.Option(..., "--event", help="Event indicator column (0/1)."),
    group: str | None = typer.Option(None, "--group", help="Group column (adds a log-rank test)."),
    json_out: bool = JSON,
) -> None:
    """Kaplan-Meier curves with Greenwood CIs, medians, and a log-rank test across groups."""
    frame = _read(csv, [time, event, group])
    survival_inputs(frame[time], frame[event])
    groups: dict[str, Any] = {}
    logrank = None
    if group is None:
        groups["all"] = kaplan_meier(frame[time], frame[event])
    else:
        test = logrank_test(frame[time], frame[event], frame[group])
        labels = frame[group].map(str)
        for name in test.groups:
            sub = frame[labels == name]
            groups[name] = kaplan_meier(sub[time], sub[event])
        logrank = test.to_dict()
    if json_out:
        print_json({"groups": {k: v.to_dict() for k, v in groups.items()}, "logrank": logrank})
        return
    table = Table(title="Kaplan-Meier")
    for col in ["group", "n", "events", "median", "95% CI"]:
        table.add_column(col)
    for name, fit in groups.items():
        tab = fit.table
        table.add_row(name, str(int(tab["n_risk"].iloc[0])), str(int(tab["n_event"].sum())),
                      _fmt(fit.median), _fmt(list(fit.median_ci)))
    console.print(table)
    if logrank is not None:
        console.print(f"Log-rank chi2 = {logrank['chi2']:.4f} on {logrank['df']} df, "
                      f"p = {logrank['p']:.4g}")


@app.command()
def mrmc(
    csv: Path = CSV,
    reader: str = typer.Option(..., "--reader", help="Reader column."),
    modality: str = typer.Option(..., "--modality", help="Modality (test, treatment) column."),
    case: str = typer.Option(..., "--case", help="Case column."),
    truth: str = typer.Option(..., "--truth", help="Truth column."),
    rating: str = typer.Option(..., "--rating", help="Rating (confidence) column."),
    positive: str | None = POSITIVE,
    method: str = typer.Option("or", "--method", help="or (Obuchowski-Rockette) or dbm."),
    cov: str = typer.Option("jackknife", "--cov", help="jackknife, delong or unbiased."),
    analysis: str = typer.Option(
        "random", "--analysis", help="random, fixed-readers or fixed-cases."
    ),
    json_out: bool = JSON,
) -> None:
    """MRMC reader-study comparison of modalities (reader-averaged AUCs)."""
    frame = _read(csv, [reader, modality, case, truth, rating])
    data = mrmc_data(frame, reader=reader, modality=modality, case=case, truth=truth,
                     rating=rating, positive=positive)
    res = mrmc_stats(data, method=method, cov=cov, analysis=analysis)  # type: ignore[arg-type]
    if json_out:
        print_json(res.to_dict())
        return
    out = res.to_dict()
    rows: list[tuple[str, Any]] = [(f"AUC {k}", v["auc"]) for k, v in out["modalities"].items()]
    first = res.comparisons[0]
    rows += [(f"difference {first.modality_a} - {first.modality_b}", res.diff), ("95% CI", res.ci),
             ("F", res.f), ("df1", res.df1), ("df2", res.df2), ("p", res.p),
             ("method / cov / analysis", f"{res.method} / {res.cov} / {res.analysis}")]
    _show("MRMC analysis", rows)
