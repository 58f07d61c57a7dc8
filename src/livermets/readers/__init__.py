"""Reader studies: a web app for reading cases with and without AI, stored in SQLite or
PostgreSQL, with export of the ratings for MRMC analysis (``readers.analysis``).

Names are imported on first use, so ``readers.analysis`` (which ``livermets report readers``
needs) works on a core install without the web app's packages (the ``readers`` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_NAMES = {
    "ReaderStudyFile": "livermets.readers.config",
    "create_app": "livermets.readers.app",
    "export_ratings": "livermets.readers.export",
    "load_study_file": "livermets.readers.config",
    "ratings_frame": "livermets.readers.export",
    "simulate_ratings": "livermets.readers.simulate",
}

if TYPE_CHECKING:
    from livermets.readers.app import create_app
    from livermets.readers.config import ReaderStudyFile, load_study_file
    from livermets.readers.export import export_ratings, ratings_frame
    from livermets.readers.simulate import simulate_ratings

__all__ = ["ReaderStudyFile", "create_app", "export_ratings", "load_study_file",
           "ratings_frame", "simulate_ratings"]


def __getattr__(name: str) -> object:
    """Import a public name of the package on first use."""
    if name not in _NAMES:
        raise AttributeError(f"module 'livermets.readers' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
