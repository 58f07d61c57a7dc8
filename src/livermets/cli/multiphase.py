"""`livermets deep multiphase run|train|predict|evaluate`: the multi-phase, multi-class lesion
segmenter and classifier (torch loaded lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from livermets._outputs import check_output_folder
from livermets.cli._common import console, err_console, new_app, print_json
from livermets.errors import ConfigError

SETTINGS_HELP = "YAML file of multi-phase settings (spacing_mm, patch, iterations, ...)."


def _settings(path: Path | None, iterations: int | None) -> Any:
    """Validated settings from an optional YAML file and command-line overrides."""
    from livermets.deep.multiphase.config import make_settings

    values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--settings {path} does not exist.")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot parse {path} as YAML: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must be a YAML mapping of settings.")
    if iterations is not None:
        values["iterations"] = iterations
    return make_settings(values)


def _log(quiet: bool) -> Any:
    return None if quiet else (lambda msg: err_console.print(msg, highlight=False))


def _drops(drop_phase: list[str] | None) -> tuple[str, ...]:
    return tuple(drop_phase or ())


def run(
    manifest: Path = typer.Argument(..., help="Multi-phase cohort manifest (CSV) with lesion "
                                    "masks and lesion-label files."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    settings: Path | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
    iterations: int | None = typer.Option(None, "--iterations", help="Training iterations."),
    external_centre: list[str] | None = typer.Option(
        None, "--external-centre", help="Centre held out as the external cohort (repeatable)."),
    test_fraction: float = typer.Option(0.25, "--test-fraction",
                                        help="Share of the other patients held out for testing."),
    seed: int = typer.Option(0, "--seed", help="Seed of the patient split."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Say in the report that the data "
                                   "are synthetic."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Split, train, predict with and without the delayed phase, evaluate, write a report."""
    from livermets.deep.multiphase.workflow import run_workflow
    from livermets.report.multiphase import write_workflow_report

    check_output_folder(out)
    config = _settings(settings, iterations)
    if not 0 <= test_fraction < 1:
        raise ConfigError(f"--test-fraction must be in [0, 1), got {test_fraction}.")
    result = run_workflow(manifest, config, out, external_centres=external_centre or (),
                          test_fraction=test_fraction, seed=seed, log=_log(as_json))
    report = write_workflow_report(result, out / "report.html", synthetic=synthetic)
    summary = result.summary()
    if as_json:
        print_json({"report": str(report), "summary": summary.to_dict(orient="records")})
        return
    console.print(summary.to_string(index=False), highlight=False)
    console.print(f"wrote {out} (report {report})", highlight=False)


def train(
    manifest: Path = typer.Argument(..., help="Multi-phase training cohort manifest (CSV)."),
    out: Path = typer.Option(..., "--out", help="Model folder (model.pt, model.json)."),
    settings: Path | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
    iterations: int | None = typer.Option(None, "--iterations", help="Training iterations."),
    split: list[str] | None = typer.Option(None, "--split", help="Train only on rows whose "
                                           "split column has this value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Train the multi-phase network (resumes from a matching checkpoint in --out)."""
    from livermets.deep.multiphase.data import load_cases
    from livermets.deep.multiphase.train import train_multiphase
    from livermets.deep.multiphase.workflow import log_progress

    check_output_folder(out)
    config = _settings(settings, iterations)
    log = _log(as_json)
    cases = load_cases(manifest, config, cache_dir=out / "cache", splits=split)
    result = train_multiphase(cases, config, out, progress=log_progress(log) if log else None)
    summary = {"model": str(out), "patients": len(cases), "iterations": config.iterations,
               "resumed_from": result.resumed_from, "seconds": round(result.seconds, 1),
               "final_loss": result.history[-1].get("loss") if result.history else None}
    if as_json:
        print_json(summary)
    else:
        console.print(f"trained on {len(cases)} patients in {summary['seconds']} s; "
                      f"wrote {out / 'model.pt'}", highlight=False)


def predict(
    model_dir: Path = typer.Argument(..., help="A trained multi-phase model folder."),
    manifest: Path = typer.Argument(..., help="Cohort manifest (CSV) of the new patients."),
    out: Path = typer.Option(..., "--out", help="Folder for masks and tables."),
    drop_phase: list[str] | None = typer.Option(None, "--drop-phase", help="Ignore a phase "
                                                "(e.g. delayed) even where it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Lesion masks, lesion classes and patient probabilities for new patients."""
    from livermets.deep.multiphase.data import load_cases
    from livermets.deep.multiphase.infer import predict_cohort, write_predictions
    from livermets.deep.multiphase.train import load_multiphase_model

    check_output_folder(out)
    loaded = load_multiphase_model(model_dir)
    cases = load_cases(manifest, loaded[1], intensity=loaded[2])
    pred = predict_cohort(loaded, cases, drop_phases=_drops(drop_phase))
    write_predictions(pred, cases, out)
    summary = {"out": str(out), "patients": len(cases), "lesions": len(pred.lesions)}
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {out}: {len(cases)} patients, {len(pred.lesions)} predicted "
                      "lesions (patients.csv, lesions.csv, <patient>/labels.nii.gz)",
                      highlight=False)


def evaluate(
    model_dir: Path = typer.Argument(..., help="A trained multi-phase model folder."),
    manifest: Path = typer.Argument(..., help="Labelled cohort manifest (CSV) to test on."),
    out: Path = typer.Option(..., "--out", help="Folder for predictions, tables and report."),
    drop_phase: list[str] | None = typer.Option(None, "--drop-phase", help="Ignore a phase "
                                                "(e.g. delayed) even where it exists."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Say in the report that the data "
                                   "are synthetic."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline numbers as JSON."),
) -> None:
    """Patient AUC per class (AUC-8), malignant-vs-benign AUC, lesion metrics and Dice."""
    from livermets.deep.multiphase.workflow import evaluate_model
    from livermets.report.multiphase import write_evaluation_report

    check_output_folder(out)
    table, evaluations = evaluate_model(model_dir, manifest, out, drop_phases=_drops(drop_phase))
    report = write_evaluation_report(evaluations, out / "report.html", synthetic=synthetic)
    if as_json:
        print_json({"report": str(report), "summary": table.to_dict(orient="records")})
        return
    console.print(table.to_string(index=False), highlight=False)
    console.print(f"wrote {out} (report {report})", highlight=False)


def register(deep_app: typer.Typer) -> None:
    """Add the ``multiphase`` group to the ``deep`` group."""
    app = new_app("Multi-phase CT: segment liver lesions, classify 8 types, patient diagnosis.")
    app.command("run")(run)
    app.command("train")(train)
    app.command("predict")(predict)
    app.command("evaluate")(evaluate)
    deep_app.add_typer(app, name="multiphase")
