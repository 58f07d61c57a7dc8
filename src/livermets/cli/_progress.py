"""A rich progress bar for loops over patients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
def patient_progress(total: int, description: str) -> Iterator[Callable[[str], None]]:
    """Yield a callback that advances a progress bar (on stderr) by one patient."""
    with progress_bars() as progress:
        task = progress.add_task(description, total=total, note="")
        yield lambda pid: progress.update(task, advance=1, note=pid)
