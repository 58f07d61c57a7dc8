"""Creating a reader study: cases from a cohort and a model's predictions, readers, sessions and
seeded case orders per reader and session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from livermets.errors import ConfigError, DataError
from livermets.readers.auth import check_username, hash_password
from livermets.readers.config import ReaderStudyFile
from livermets.readers.models import Assignment, Case, ReadingSession, Study, User

SESSIONS = (("without-ai", False), ("with-ai", True))


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


def model_names(study_file: ReaderStudyFile) -> list[str]:
    """The models present in the study file's predictions."""
    return sorted(read_predictions(str(study_file.predictions))["model"].astype(str).unique())


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
    if not set(pd.unique(per_case["truth"])) <= {0, 1}:
        raise DataError("reader studies need binary truth (y_true 0/1) in the predictions.")
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


def create_study(db: Session, study_file: ReaderStudyFile, request: StudyRequest) -> Study:
    """Create the study, its cases, sessions, reader accounts and case orders in one transaction."""
    if request.scale not in ("probability", "five-point"):
        raise ConfigError(f"scale must be probability or five-point, got {request.scale!r}.")
    if request.washout_days < 0:
        raise ConfigError("washout days cannot be negative.")
    if not request.name.strip() or len(request.name) > 200:
        raise ConfigError("give the study a name of 1-200 characters.")
    if db.scalar(select(Study).where(Study.name == request.name)) is not None:
        raise ConfigError(f"a study named {request.name!r} exists already.")
    taken = set(db.scalars(select(User.username).where(
        User.username.in_([r[0] for r in request.readers]))))
    if taken:
        raise ConfigError(f"usernames {sorted(taken)} exist already; choose others.")
    cases = case_table(study_file, request.model)
    study = Study(name=request.name, question=request.question, scale=request.scale,
                  washout_days=float(request.washout_days), seed=int(request.seed),
                  model=request.model, positive_label=study_file.positive_label)
    db.add(study)
    db.flush()
    case_rows = [
        Case(study_id=study.id, key=f"{r.patient_id}-L{r.lesion_id}", patient_id=r.patient_id,
             lesion_id=r.lesion_id, truth=int(r.truth), size_group=str(r.size_group),
             diameter_mm=float(r.diameter_mm), ai_probability=float(r.ai_probability),
             image_path=r.image_path, mask_path=r.mask_path, source_label=int(r.source_label),
             k0=int(r.bbox_k_min), k1=int(r.bbox_k_max), j0=int(r.bbox_j_min),
             j1=int(r.bbox_j_max), i0=int(r.bbox_i_min), i1=int(r.bbox_i_max))
        for r in cases.itertuples()
    ]
    db.add_all(case_rows)
    sessions = [ReadingSession(study_id=study.id, index=i, name=name, with_ai=ai)
                for i, (name, ai) in enumerate(SESSIONS)]
    db.add_all(sessions)
    users = [User(username=name, password_hash=hash_password(pw), role="reader",
                  study_id=study.id) for name, pw in request.readers]
    db.add_all(users)
    db.flush()
    for r_index, user in enumerate(users):
        for session in sessions:
            order = case_order(study.seed, r_index, session.index, len(case_rows))
            db.add_all(Assignment(reader_id=user.id, session_id=session.id,
                                  case_id=case_rows[c].id, position=pos)
                       for pos, c in enumerate(order))
    return study

