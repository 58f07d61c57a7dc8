"""Progress callbacks: the library reports its progress, the caller (the CLI) draws it.

No library stage draws a bar or imports ``rich.progress``: a loop takes one of these callbacks
(``None``: silent) and ``livermets.cli._progress`` turns them into rich bars on stderr.
Low level on purpose (it imports nothing of livermets), so that every stage may use it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

C = TypeVar("C")

PatientProgress = Callable[[str], None]
"""Called once per patient done, with its id: ``progress("P0001")``."""

StepProgress = Callable[[int, int, dict[str, float]], None]
"""Called after each step of a training loop (an epoch, an iteration):
``progress(done, total, record)``, ``record`` holding that step's numbers (loss, val_auc, ...)."""


class PatientBars(Protocol):
    """Opens a progress display over ``total`` patients for one stage and yields its
    :data:`PatientProgress` (the CLI's ``patient_progress``); for a library function with
    several stages, which opens each stage's display only while that stage runs."""

    def __call__(self, total: int, description: str
                 ) -> AbstractContextManager[PatientProgress]: ...


def callback_or_none(progress: C | bool | None, where: str) -> C | None:
    """``progress`` as a callback or ``None``; the old boolean flag (``progress=True`` drew a rich
    bar inside the library) is still accepted, with a ``DeprecationWarning`` for ``True``."""
    if isinstance(progress, bool):
        if progress:
            warnings.warn(f"{where}(progress=True) no longer draws a bar: pass a callback "
                          "(the CLI's livermets.cli._progress builds one); running silently",
                          DeprecationWarning, stacklevel=3)
        return None
    return progress
