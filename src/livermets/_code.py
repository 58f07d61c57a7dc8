"""A hash of livermets' own source, so that caches of fitted models follow code changes."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def code_fingerprint(packages: tuple[str, ...] = ("models", "stats", "study")) -> str:
    """A hash of the source of ``packages`` (sub-packages of livermets), so that a code change
    invalidates caches of fitted models even when the version number stays the same."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
