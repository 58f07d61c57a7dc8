"""A rich progress bar for loops over patients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from livermets.cli._common import err_console


@contextlib.contextmanager
def patient_progress(total: int, description: str) -> Iterator[Callable[[str], None]]:
    """Yield a callback that advances a progress bar (on stderr) by one patient."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total, current="")
        yield lambda pid: progress.update(task, advance=1, current=pid)
