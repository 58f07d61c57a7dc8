"""End-to-end multi-phase workflow: split patients, train, predict (with and without the
delayed phase) and evaluate internal and external cohorts, as `livermets deep multiphase` and a
study's ``multiphase:`` section run it.

The evaluation runs on the network grid, where reference and predicted maps share one geometry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from livermets._atomic import write_table, write_text
from livermets._progress import StepProgress
from livermets.cohort import Manifest, load_manifest
from livermets.deep.multiphase.config import MultiphaseSettings
from livermets.deep.multiphase.data import MultiphaseCase, load_cases
from livermets.deep.multiphase.evaluate import (
    MultiphaseEvaluation,
    evaluate_multiphase,
    match_case,
    patient_truth,
    voxel_dice,
)
from livermets.deep.multiphase.infer import MultiphasePredictions, predict_cohort
from livermets.errors import ConfigError, DataError, InputFileError

EVALUATION = "evaluation.json"  # per predictions folder: cohort, scenario, classes, n, level

Log = Callable[[str], None]


@dataclass(frozen=True)
class PatientSplit:
    """Which patients train, which form the internal test and which the external cohort."""

    train: list[str]
    internal: list[str]
    external: list[str]

    def as_table(self) -> pd.DataFrame:
        """One row per patient with its role."""
        rows = [(p, role) for role in ("train", "internal", "external")
                for p in getattr(self, role)]
        return pd.DataFrame(rows, columns=["patient_id", "role"])


@dataclass(frozen=True)
class CohortResult:
    """Predictions and evaluations of one cohort (internal or external) and phase scenario."""

    cohort: str
    scenario: str
    predictions: MultiphasePredictions
    evaluation: MultiphaseEvaluation | None


@dataclass(frozen=True)
class WorkflowResult:
    """Everything the workflow produced."""

    split: PatientSplit
    results: tuple[CohortResult, ...] = ()
    train_seconds: float = 0.0
    iterations: int = 0

    def evaluations(self, scenario: str = "all phases") -> dict[str, MultiphaseEvaluation]:
        """Evaluations of one phase scenario keyed by cohort name."""
        return {r.cohort: r.evaluation for r in self.results
                if r.scenario == scenario and r.evaluation is not None}

    def summary(self) -> pd.DataFrame:
        """AUC-8, AUC-2, lesion metrics and Dice per cohort and scenario (max-in-liver rule)."""
        rows = []
        for r in self.results:
            if r.evaluation is not None:
                rows.append({"cohort": r.cohort, "scenario": r.scenario,
                             **headline(r.evaluation)})
        return pd.DataFrame(rows)


def split_patients(manifest: Manifest, external_centres: Sequence[str], test_fraction: float,
                   seed: int) -> PatientSplit:
    """Hold out external centres, then a random fraction of the rest (stratified by label)."""
    rows = manifest.rows()
    centres = {r.patient_id: str(r.center) for r in rows}
    unknown = sorted(set(external_centres) - set(centres.values()))
    if unknown:
        raise ConfigError(f"external centres {unknown} are not in the cohort; its centres are "
                          f"{sorted(set(centres.values()))}.")
    external = [r.patient_id for r in rows if str(r.center) in set(external_centres)]
    development = [r for r in rows if str(r.center) not in set(external_centres)]
    internal: list[str] = []
    if test_fraction > 0 and development:
        ids = [r.patient_id for r in development]
        labels = [str(r.label) for r in development]
        n_test = min(len(ids) - 2, max(1, round(len(ids) * test_fraction)))
        if n_test >= 1:
            try:  # stratified by the patient label when every class has >= 2 patients
                _, internal = train_test_split(ids, test_size=n_test, random_state=seed,
                                               stratify=labels)
            except ValueError:
                _, internal = train_test_split(ids, test_size=n_test, random_state=seed)
    train = [r.patient_id for r in development if r.patient_id not in set(internal)]
    if len(train) < 2:
        raise DataError(f"only {len(train)} training patient(s) remain after holding out "
                        f"{len(internal)} internal and {len(external)} external patients; "
                        "lower test_fraction or add patients.")
    return PatientSplit(train, sorted(internal), external)


def _subset(manifest: Manifest, ids: Sequence[str]) -> Manifest:
    """The manifest restricted to some patients (same folder, so relative paths still work)."""
    keep = manifest.table["patient_id"].astype(str).isin(set(ids))
    return Manifest(manifest.path, manifest.table[keep].reset_index(drop=True))


def evaluate_cases(pred: MultiphasePredictions, cases: Sequence[MultiphaseCase], *,
                   n_boot: int = 2000, seed: int = 0) -> MultiphaseEvaluation:
    """Patient AUCs, lesion detection / classification and Dice of predicted labelled cases."""
    classes = list(pred.classes)
    missing = [c.patient_id for c in cases if c.instances is None or c.labels is None]
    if missing:
        raise DataError(f"patients {missing[:5]} have no lesion mask: evaluation needs the "
                        "reference lesion masks and their lesion-label files.")
    lesions = pd.DataFrame(
        [(c.patient_id, name) for c in cases for name in c.instance_classes.values()],
        columns=["patient_id", "class"])
    truth = patient_truth(lesions, classes, patients=[c.patient_id for c in cases])
    matches, dice = [], []
    table = pred.lesions
    for case in cases:
        own = table[table["patient_id"].astype(str) == case.patient_id] if len(table) else table
        pred_classes = ({int(k): str(v) for k, v in zip(own["pred_lesion_id"], own["pred_class"],
                                                        strict=True)} if len(own) else {})
        matches.append(match_case(case.instances, case.instance_classes,
                                  pred.instances[case.patient_id], pred_classes,
                                  spacing_zyx=case.spacing_zyx, patient_id=case.patient_id))
        dice.append({"patient_id": case.patient_id, "center": case.center,
                     **voxel_dice(case.labels, pred.label_maps[case.patient_id], len(classes),
                                  classes=classes)})
    return evaluate_multiphase(pred.patients, truth, pd.concat(matches, ignore_index=True),
                               pd.DataFrame(dice), classes, n_boot=n_boot, seed=seed)


def headline(evaluation: MultiphaseEvaluation, rule: str = "max_in_liver") -> dict[str, Any]:
    """The seed's headline numbers of one evaluation (one rule) as a flat dict."""
    summary = evaluation.summary.set_index("rule").loc[rule]
    lesions = evaluation.lesions
    overall = lesions[lesions["by"] == "all"].iloc[0]
    dice = evaluation.dice.set_index("measure")
    out: dict[str, Any] = {"n_patients": evaluation.n_patients}
    for key in ("auc_mean", "auc_mean_ci_low", "auc_mean_ci_high", "auc_malignant",
                "auc_malignant_ci_low", "auc_malignant_ci_high"):
        out[key] = float(summary[key])
    for name in ("precision", "sensitivity", "accuracy"):
        out[f"lesion_{name}"] = float(overall[name])
    out["fp_per_patient"] = float(overall["fp_per_patient"])
    out["lesion_dice"] = float(dice.loc["lesion", "mean"]) if "lesion" in dice.index else np.nan
    out["liver_dice"] = float(dice.loc["liver", "mean"]) if "liver" in dice.index else np.nan
    return out


def run_workflow(
    manifest: str | Path | Manifest,
    settings: MultiphaseSettings,
    out: str | Path,
    *,
    external_centres: Sequence[str] = (),
    test_fraction: float = 0.25,
    seed: int = 0,
    drop_phase_scenarios: Sequence[str] = ("delayed",),
    n_boot: int = 2000,
    log: Log | None = None,
) -> WorkflowResult:
    """Train on the training patients, evaluate internal and external cohorts under every phase
    scenario, and write predictions and tables under ``out``."""
    out = Path(out)
    say = log or (lambda _msg: None)
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    split = split_patients(manifest, external_centres, test_fraction, seed)
    write_table(split.as_table(), out / "split.csv")
    cache = out / "cache"
    say(f"loading {len(split.train)} training patients")
    train_cases = load_cases(_subset(manifest, split.train), settings, cache_dir=cache)
    intensity = train_cases[0].intensity
    from livermets.deep.multiphase.train import train_multiphase

    say(f"training ({settings.iterations} iterations)")
    trained = train_multiphase(train_cases, settings, out / "model", progress=log_progress(say))
    results: list[CohortResult] = []
    loaded = (trained.model.eval(), settings, intensity)
    for cohort, ids in (("internal", split.internal), ("external", split.external)):
        if not ids:
            continue
        cases = load_cases(_subset(manifest, ids), settings, cache_dir=cache, intensity=intensity)
        labelled = all(c.instances is not None for c in cases)
        for drop in ((), *[(p,) for p in drop_phase_scenarios if p in settings.phases]):
            scenario = "all phases" if not drop else f"without {'+'.join(drop)}"
            say(f"predicting {cohort} cohort ({len(cases)} patients, {scenario})")
            pred = predict_cohort(loaded, cases, drop_phases=drop)
            evaluation = evaluate_cases(pred, cases, n_boot=n_boot, seed=seed) if labelled else None
            results.append(CohortResult(cohort, scenario, pred, evaluation))
            folder = out / "predictions" / f"{cohort}-{'all' if not drop else 'no-' + drop[0]}"
            write_table(pred.patients, folder / "patients.csv")
            write_table(pred.lesions, folder / "lesions.csv")
            if evaluation is not None:
                for name, table in evaluation.tables().items():
                    write_table(table, folder / f"{name}.csv")
            write_text(folder / EVALUATION, json.dumps({
                "cohort": cohort, "scenario": scenario, "classes": list(pred.classes),
                "drop_phases": list(drop), "evaluated": evaluation is not None,
                "n_patients": None if evaluation is None else evaluation.n_patients,
                "level": None if evaluation is None else evaluation.level}, indent=1))
    result = WorkflowResult(split, tuple(results), train_seconds=trained.seconds,
                            iterations=settings.iterations)
    write_table(result.summary(), out / "summary.csv")
    write_text(out / "workflow.json", json.dumps({
        "train_patients": len(split.train), "internal_patients": len(split.internal),
        "external_patients": len(split.external), "external_centres": list(external_centres),
        "iterations": settings.iterations, "train_seconds": trained.seconds,
        "resumed_from": trained.resumed_from}, indent=2))
    return result


def log_progress(say: Log) -> StepProgress:
    """A training progress callback that logs every tenth of the run."""
    def tick(iteration: int, total: int, record: dict[str, float]) -> None:
        if iteration == total or iteration % max(1, total // 10) == 0:
            say(f"  iteration {iteration}/{total}: loss {record.get('loss', float('nan')):.4f}")
    return tick


def load_workflow_result(folder: str | Path) -> WorkflowResult:
    """The ``WorkflowResult`` of a finished run from the tables it wrote into ``folder``
    (split, predictions, evaluations; the network itself is not loaded)."""
    folder = Path(folder)
    record = folder / "workflow.json"
    if not record.is_file():
        raise InputFileError(f"{record} is missing: {folder} is not a finished multi-phase run.")
    run = json.loads(record.read_text(encoding="utf-8"))
    roles = pd.read_csv(folder / "split.csv", dtype={"patient_id": str})
    split = PatientSplit(*(roles.loc[roles["role"] == r, "patient_id"].tolist()
                           for r in ("train", "internal", "external")))
    results: list[CohortResult] = []
    for meta_path in sorted((folder / "predictions").glob(f"*/{EVALUATION}")):
        part = meta_path.parent
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        ids = {"patient_id": str}
        pred = MultiphasePredictions(pd.read_csv(part / "patients.csv", dtype=ids),
                                     _read_optional(part / "lesions.csv", ids),
                                     tuple(meta["classes"]), tuple(meta["drop_phases"]), {}, {})
        evaluation = None
        if meta["evaluated"]:
            tables = {name: pd.read_csv(part / f"{name}.csv")
                      for name in ("class_auc", "summary", "lesions", "dice", "roc")}
            confusion = pd.read_csv(part / "lesion_confusion.csv").set_index("reference")
            confusion.index.name = None
            evaluation = MultiphaseEvaluation(**tables, classes=tuple(meta["classes"]),
                                              n_patients=int(meta["n_patients"]),
                                              level=float(meta["level"]), confusion=confusion)
        results.append(CohortResult(meta["cohort"], meta["scenario"], pred, evaluation))
    order = {"internal": 0, "external": 1}
    results.sort(key=lambda r: (order.get(r.cohort, 2), r.scenario != "all phases"))
    result = WorkflowResult(split, tuple(results), train_seconds=float(run["train_seconds"]),
                            iterations=int(run["iterations"]))
    return result


def _read_optional(path: Path, dtype: dict[str, type]) -> pd.DataFrame:
    """A CSV table, or an empty one when it has no columns (no lesions predicted)."""
    try:
        return pd.read_csv(path, dtype=dtype)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def evaluate_model(model_dir: str | Path, manifest: str | Path, out: str | Path, *,
                   drop_phases: Sequence[str] = (),
                   n_boot: int = 2000) -> tuple[pd.DataFrame, dict[str, MultiphaseEvaluation]]:
    """Predict a labelled cohort with a trained model, evaluate it per centre, write tables and
    predictions; returns the headline table and the evaluation of every centre (the report is
    ``livermets.report.multiphase.write_evaluation_report``)."""
    from livermets.deep.multiphase.infer import write_predictions
    from livermets.deep.multiphase.train import load_multiphase_model
    out = Path(out)
    loaded = load_multiphase_model(model_dir)
    cases = load_cases(manifest, loaded[1], intensity=loaded[2])
    pred = predict_cohort(loaded, cases, drop_phases=drop_phases)
    write_predictions(pred, cases, out / "predictions")
    scenario = "all phases" if not drop_phases else f"without {'+'.join(drop_phases)}"
    by_centre: dict[str, list[MultiphaseCase]] = {}
    for case in cases:
        by_centre.setdefault(str(case.center or "all"), []).append(case)
    evaluations, rows = {}, []
    for centre, group in by_centre.items():
        ids = {c.patient_id for c in group}
        part = MultiphasePredictions(
            pred.patients[pred.patients["patient_id"].astype(str).isin(ids)],
            pred.lesions[pred.lesions["patient_id"].astype(str).isin(ids)] if len(pred.lesions)
            else pred.lesions, pred.classes, pred.drop_phases,
            {k: v for k, v in pred.label_maps.items() if k in ids},
            {k: v for k, v in pred.instances.items() if k in ids})
        evaluation = evaluate_cases(part, group, n_boot=n_boot)
        evaluations[f"centre {centre} ({scenario})"] = evaluation
        rows.append({"centre": centre, "scenario": scenario, **headline(evaluation)})
        for name, table in evaluation.tables().items():
            write_table(table, out / f"centre-{centre}" / f"{name}.csv")
    table = pd.DataFrame(rows)
    write_table(table, out / "summary.csv")
    return table, evaluations
