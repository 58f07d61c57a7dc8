"""Creating a reader study: cases from a cohort and a model's predictions, readers, sessions and
seeded case orders per reader and session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from livermets.errors import ConfigError, DataError
from livermets.readers.auth import check_new_password, check_username
from livermets.readers.config import ReaderStudyFile
from livermets.readers.models import Assignment, Case, ReadingSession, Study, User, utcnow

SESSIONS = (("without-ai", False), ("with-ai", True))


class StudyExists(ConfigError):
    """The study name or a reader's username is taken (HTTP 409)."""


@dataclass(frozen=True)
class StudyRequest:
    """What the admin chooses when creating a study (defaults come from the study file)."""

    name: str
    question: str
    scale: str
    washout_days: float
    seed: int
    model: str
    readers: list[tuple[str, str]]


def read_predictions(path: str) -> pd.DataFrame:
    """The predictions table (Parquet or CSV) with the columns a reader study needs."""
    try:
        frame = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read predictions {path}: {exc}") from exc
    missing = {"patient_id", "lesion_id", "model", "y_true", "y_prob"} - set(frame.columns)
    if missing:
        raise DataError(f"predictions {path} lack columns {sorted(missing)}; use the "
                        "predictions.parquet written by `livermets study run`.")
    return frame


def binary_truth(y_true: pd.Series, positive_label: str) -> pd.Series:
    """Truth as 0/1: ``y_true == positive_label`` for class names (as `study run` writes them),
    or ``y_true`` itself when it is already 0/1."""
    values = y_true.dropna()
    if len(values) < len(y_true):
        raise DataError(f"{len(y_true) - len(values)} lesions have no y_true in the predictions; "
                        "reader studies need lesion-level predictions with a known class.")
    numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    if numeric and set(values.astype(float).unique()) <= {0.0, 1.0}:
        return values.astype(int)
    labels = sorted(values.astype(str).unique())
    if positive_label not in labels:
        raise DataError(f"positive_label {positive_label!r} is not a class of the predictions' "
                        f"y_true {labels}; set positive_label: in the study file to one of them.")
    if len(labels) > 2:
        raise DataError(f"reader studies need a binary task; y_true holds {len(labels)} classes "
                        f"{labels}.")
    return (values.astype(str) == positive_label).astype(int)


def model_names(study_file: ReaderStudyFile) -> list[str]:
    """The models present in the study file's predictions."""
    return sorted(read_predictions(str(study_file.predictions))["model"].astype(str).unique())


def check_ai_positive(predictions: str, model: str, positive_label: str) -> None:
    """Refuse a positive_label other than the class the model's y_prob is the probability of.

    `study run` writes DIR/predictions.parquet and DIR/models/NAME/card.json (its ``positive``);
    predictions from elsewhere carry no such record and are taken as documented.
    """
    import json
    from pathlib import Path

    card = Path(predictions).parent / "models" / model / "card.json"
    if not card.is_file():
        return
    positive = json.loads(card.read_text(encoding="utf-8")).get("positive")
    if positive is not None and str(positive) != str(positive_label):
        raise DataError(
            f"the study file's positive_label is {positive_label!r}, but model {model!r} gives "
            f"the probability of {positive!r} ({card}); the AI probabilities shown to readers "
            f"would be inverted. Set positive_label: {positive}."
        )


def case_table(study_file: ReaderStudyFile, model: str) -> pd.DataFrame:
    """One row per lesion: truth, the model's probability (mean over repeats), size and bbox."""
    from livermets.cohort import load_manifest
    from livermets.lesions import build_lesion_tables

    preds = read_predictions(str(study_file.predictions))
    preds = preds[preds["model"].astype(str) == model]
    if study_file.split is not None and "split" in preds:
        preds = preds[preds["split"].astype(str) == study_file.split]
    if preds.empty:
        raise ConfigError(f"no predictions for model {model!r}"
                          + (f" in split {study_file.split!r}" if study_file.split else "")
                          + f"; models available: {model_names(study_file)}")
    preds = preds.assign(patient_id=preds["patient_id"].astype(str),
                         lesion_id=preds["lesion_id"].astype(str))
    per_case = preds.groupby(["patient_id", "lesion_id"], sort=True).agg(
        truth=("y_true", "first"), ai_probability=("y_prob", "mean")).reset_index()
    check_ai_positive(str(study_file.predictions), model, study_file.positive_label)
    per_case["truth"] = binary_truth(per_case["truth"], study_file.positive_label)
    manifest = load_manifest(study_file.cohort)
    lesions, _ = build_lesion_tables(manifest, patients=sorted(per_case["patient_id"].unique()))
    lesions = lesions.assign(patient_id=lesions["patient_id"].astype(str),
                             lesion_id=lesions["lesion_id"].astype(str))
    table = per_case.merge(lesions, on=["patient_id", "lesion_id"], how="inner")
    if len(table) < len(per_case):
        raise DataError(f"{len(per_case) - len(table)} predicted lesions are not in the cohort "
                        f"{study_file.cohort}; use the cohort the predictions were made on.")
    rows = {r.patient_id: r for r in manifest.rows()}
    table["image_path"] = [str(rows[p].image) for p in table["patient_id"]]
    table["mask_path"] = [str(rows[p].masks["lesion_mask"]) for p in table["patient_id"]]
    if study_file.max_cases is not None and len(table) > study_file.max_cases:
        rng = np.random.default_rng(study_file.seed)
        keep = np.sort(rng.choice(len(table), study_file.max_cases, replace=False))
        table = table.iloc[keep].reset_index(drop=True)
    if table["truth"].nunique() < 2:
        raise DataError("the study's cases are all of one class; ROC analysis needs both.")
    return table


def case_order(seed: int, reader_index: int, session_index: int, n_cases: int) -> np.ndarray:
    """The seeded random order of ``n_cases`` cases for one reader and session."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, reader_index, session_index]))
    return rng.permutation(n_cases)


def parse_readers(text: str) -> list[tuple[str, str]]:
    """Readers from lines of ``username password``."""
    readers: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"reader line {number} must be 'username password', got "
                              f"{len(parts)} field(s).")
        readers.append((check_username(parts[0]), parts[1]))
    if not readers:
        raise ConfigError("add at least one reader (one 'username password' per line).")
    names = [r[0] for r in readers]
    if len(set(names)) != len(names):
        raise ConfigError("reader usernames must be unique.")
    return readers


@dataclass(frozen=True)
class PreparedStudy:
    """Everything a new study needs, computed before the write transaction."""

    request: StudyRequest
    positive_label: str
    cases: pd.DataFrame
    readers: list[tuple[str, str]]  # username, argon2 hash


def check_request(db: Session, request: StudyRequest) -> None:
    """Refuse bad settings, a taken study name or taken usernames (ConfigError)."""
    if request.scale not in ("probability", "five-point"):
        raise ConfigError(f"scale must be probability or five-point, got {request.scale!r}.")
    if request.washout_days < 0:
        raise ConfigError("washout days cannot be negative.")
    if not request.name.strip() or len(request.name) > 200:
        raise ConfigError("give the study a name of 1-200 characters.")
    if db.scalar(select(Study.id).where(Study.name == request.name)) is not None:
        raise StudyExists(f"a study named {request.name!r} exists already.")
    taken = set(db.scalars(select(User.username).where(
        User.username.in_([r[0] for r in request.readers]))))
    if taken:
        raise StudyExists(f"usernames {sorted(taken)} exist already; choose others.")


def prepare_study(db: Session, study_file: ReaderStudyFile, request: StudyRequest,
                  hash_password: Callable[[str], str]) -> PreparedStudy:
    """Check the request, build the case table and hash the passwords (no write lock held)."""
    check_request(db, request)
    db.commit()  # end the read transaction: nothing below touches the database
    for _, password in request.readers:
        check_new_password(password)
    cases = case_table(study_file, request.model)
    hashed = [(name, hash_password(password)) for name, password in request.readers]
    return PreparedStudy(request, study_file.positive_label, cases, hashed)


def insert_study(db: Session, prepared: PreparedStudy) -> Study:
    """Insert a prepared study: rows only, so the write transaction is short."""
    request = prepared.request
    check_request(db, request)  # again: another admin may have been faster
    study = Study(name=request.name, question=request.question, scale=request.scale,
                  washout_days=float(request.washout_days), seed=int(request.seed),
                  model=request.model, positive_label=prepared.positive_label)
    db.add(study)
    db.flush()
    case_ids = _insert_ids(db, Case, [
        dict(study_id=study.id, key=f"{r.patient_id}-L{r.lesion_id}", patient_id=r.patient_id,
             lesion_id=r.lesion_id, truth=int(r.truth), size_group=str(r.size_group),
             diameter_mm=float(r.diameter_mm), ai_probability=float(r.ai_probability),
             image_path=r.image_path, mask_path=r.mask_path, source_label=int(r.source_label),
             k0=int(r.bbox_k_min), k1=int(r.bbox_k_max), j0=int(r.bbox_j_min),
             j1=int(r.bbox_j_max), i0=int(r.bbox_i_min), i1=int(r.bbox_i_max))
        for r in prepared.cases.itertuples()])
    session_ids = _insert_ids(db, ReadingSession, [
        dict(study_id=study.id, index=i, name=name, with_ai=ai)
        for i, (name, ai) in enumerate(SESSIONS)])
    user_ids = _insert_ids(db, User, [
        dict(username=name, password_hash=hashed, role="reader", study_id=study.id,
             created_at=utcnow()) for name, hashed in prepared.readers])
    rows = []
    for r_index, user_id in enumerate(user_ids):
        for s_index, session_id in enumerate(session_ids):
            order = case_order(study.seed, r_index, s_index, len(case_ids))
            rows.extend(dict(reader_id=user_id, session_id=session_id,
                             case_id=case_ids[c], position=pos)
                        for pos, c in enumerate(order.tolist()))
    if rows:
        db.execute(insert(Assignment), rows)
    return study


def _insert_ids(db: Session, table: type, rows: list[dict]) -> list[int]:
    """Insert ``rows`` into ``table`` and return their ids in order."""
    if not rows:
        return []
    objects = [table(**row) for row in rows]
    db.add_all(objects)
    db.flush()
    return [o.id for o in objects]
