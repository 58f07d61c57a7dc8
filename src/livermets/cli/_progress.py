"""The CLI's rich progress bars: it draws what the library reports through the callbacks of
``livermets._progress`` (no module outside ``cli`` imports ``rich.progress``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from livermets._progress import PatientProgress, StepProgress
from livermets.cli._common import err_console


def progress_bars() -> Progress:
    """The CLI's rich progress bars on stderr: description, bar, n/total, a ``note`` field (the
    current patient, a rate) and the time elapsed; add tasks with ``note=""``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


@contextlib.contextmanager
def patient_progress(total: int, description: str) -> Iterator[PatientProgress]:
    """Yield a callback that advances a progress bar (on stderr) by one patient."""
    with progress_bars() as progress:
        task = progress.add_task(description, total=total, note="")
        yield lambda pid: progress.update(task, advance=1, note=pid)


@contextlib.contextmanager
def quiet_or_patient_progress(quiet: bool, total: int, description: str
                              ) -> Iterator[PatientProgress | None]:
    """:func:`patient_progress`, or no bar and ``None`` (``--json``: nothing on the terminal)."""
    if quiet:
        yield None
        return
    with patient_progress(total, description) as advance:
        yield advance


@contextlib.contextmanager
def step_progress(total: int, description: str) -> Iterator[StepProgress]:
    """Yield a callback that moves a progress bar (on stderr) over the steps of a training loop,
    the step's loss or validation AUC as its note."""
    with progress_bars() as progress:
        task = progress.add_task(description, total=total, note="")

        def update(done: int, total: int, record: dict[str, float]) -> None:
            note = "  ".join(f"{key} {record[key]:.3f}" for key in ("loss", "val_auc")
                             if key in record)
            progress.update(task, completed=done, total=total, note=note)

        yield update
