"""The reader-study file (READER_STUDY.yaml): cohort, predictions, defaults, admin account."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livermets.errors import ConfigError
from livermets.readers.auth import MIN_PASSWORD

Scale = Literal["probability", "five-point"]


class AdminAccount(BaseModel):
    """The admin login; the password is read from an environment variable, never from the file."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field("admin", min_length=1, max_length=100)
    password_env: str = "LIVERMETS_READERS_ADMIN_PASSWORD"

    def password(self) -> str:
        """The admin password from the environment; ConfigError when it is unset or short."""
        value = os.environ.get(self.password_env, "")
        if len(value) < MIN_PASSWORD:
            raise ConfigError(f"set the admin password ({MIN_PASSWORD} characters or more) in the "
                              f"environment variable {self.password_env} before starting the "
                              "server.")
        return value


class ReaderStudyFile(BaseModel):
    """Validated READER_STUDY.yaml; relative paths are relative to the file."""

    model_config = ConfigDict(extra="forbid")
    cohort: Path
    predictions: Path
    model: str | None = None
    split: str | None = None
    question: str = Field("Metastasis or hemangioma?", min_length=1, max_length=500)
    positive_label: str = Field("metastasis", min_length=1, max_length=100)
    scale: Scale = "probability"
    washout_days: float = Field(28.0, ge=0)
    seed: int = Field(0, ge=0)
    max_cases: int | None = Field(None, ge=2)
    admin: AdminAccount = AdminAccount()
    secret_env: str = "LIVERMETS_READERS_SECRET"
    secret_file: Path | None = None  # default: FILE.db.key beside a SQLite database
    session_idle_hours: float = Field(12.0, gt=0, le=24 * 30)
    session_max_hours: float = Field(24.0, gt=0, le=24 * 90)


def load_study_file(path: str | Path) -> ReaderStudyFile:
    """Read and validate a reader-study YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"reader-study file {path} does not exist; write one as in "
                          "`livermets docs readers`.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of settings (cohort:, predictions:, ...).")
    try:
        study = ReaderStudyFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
    base = path.resolve().parent
    study.cohort = (base / study.cohort).resolve()
    study.predictions = (base / study.predictions).resolve()
    if study.secret_file is not None:
        study.secret_file = (base / study.secret_file).resolve()
    for name, file in (("cohort", study.cohort), ("predictions", study.predictions)):
        if not file.is_file():
            raise ConfigError(f"{path}: {name} file {file} does not exist.")
    return study
