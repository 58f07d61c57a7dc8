"""Atomic writes: write to a temporary file in the target folder, then rename."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

# temporary files are ".NAME.tmp<pid>-<random><suffix>": the pid tells a live writer's file
# from one left by a killed run
_TEMPORARY = re.compile(r"^\..+\.tmp(\d+)-[a-z0-9_]+", re.IGNORECASE)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.tmp{os.getpid()}-", suffix=suffix,
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (ours counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed runs left under ``folder``; return them."""
    removed = []
    for path in Path(folder).rglob(".*.tmp*"):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_table(df: pd.DataFrame, target: str | os.PathLike[str]) -> Path:
    """Write a table atomically as Parquet or CSV, chosen by the file suffix."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif target.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            from livermets.errors import ConfigError

            raise ConfigError(f"cannot write table {target}: use a .parquet or .csv file name")
    return target
