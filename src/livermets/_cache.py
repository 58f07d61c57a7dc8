"""The fit caches of a study (cross-validation, final refits, CNN folds): one way to read and
write them, so that a truncated or foreign file simply means the stage runs again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from livermets._atomic import atomic_path


def load_cached(path: Path) -> Any | None:
    """A cached object, or None if absent or unreadable (then the stage simply runs again)."""
    if not path.is_file():
        return None
    try:
        return joblib.load(path)
    except Exception:
        return None


def dump_cached(path: Path, value: Any) -> Path:
    """Write ``value`` to ``path`` atomically (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        joblib.dump(value, tmp)
    return path
