"""Output paths checked before any work starts: a clear error now, not a traceback at the end."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from livermets.errors import ConfigError

TABLE_SUFFIXES = (".parquet", ".csv")


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (tried, so read-only mounts count too)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _check_can_create_in(path: Path, option: str) -> None:
    """Refuse ``path`` when its nearest existing ancestor is a file or is not writable."""
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        raise ConfigError(
            f"{option} {path}: {parent} is a file, not a folder. Choose an output path inside a "
            "folder."
        )
    if not _writable(parent):
        raise ConfigError(
            f"{option} {path}: cannot write in {parent} (permission denied or read-only). Choose "
            "a folder you can write to."
        )


def check_output_file(
    path: str | os.PathLike[str],
    *,
    option: str = "--out",
    suffixes: Sequence[str] | None = TABLE_SUFFIXES,
) -> Path:
    """Return ``path`` if a file can be written there; else raise ``ConfigError`` saying why."""
    path = Path(path).expanduser()
    if suffixes and not path.name.lower().endswith(tuple(suffixes)):
        names = " or ".join(suffixes)
        raise ConfigError(f"{option} {path}: use a {names} file name.")
    if path.is_dir():
        example = path / f"output{suffixes[0] if suffixes else ''}"
        raise ConfigError(
            f"{option} {path} is an existing folder, but a file is written here. Give a file "
            f"name, e.g. {example}."
        )
    _check_can_create_in(path, option)
    return path


def check_output_folder(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """Return ``path`` if a folder can be written there; else raise ``ConfigError`` saying why."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{option} {path} is an existing file, but a folder is written here. Give a folder "
            "path (it is created if missing)."
        )
    if path.is_dir():
        if not _writable(path):
            raise ConfigError(
                f"{option} {path}: cannot write in this folder (permission denied or read-only). "
                "Choose a folder you can write to."
            )
        return path
    _check_can_create_in(path, option)
    return path


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
