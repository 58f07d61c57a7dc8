"""Optional parts of livermets (pip extras): whether one is installed, and a clear error if not."""

from __future__ import annotations

import importlib.util

from livermets.errors import LivermetsError

# extra -> the top-level modules it provides (the first missing one is named in the error)
EXTRAS: dict[str, tuple[str, ...]] = {
    "deep": ("torch", "monai"),
    "explain": ("shap",),
    "readers": ("fastapi", "uvicorn", "sqlalchemy", "alembic", "argon2", "itsdangerous",
                "multipart", "httpx"),
}
TORCH_HINT = ("torch first, pinned: pip install torch==2.13.0 (a CPU build), then "
              "pip install torch==2.13.0 'livermets[deep]' (the pin keeps that torch)")


class MissingExtraError(LivermetsError):
    """A command needs an optional part of livermets that is not installed."""


def missing(extra: str) -> str | None:
    """The first module of ``extra`` that cannot be imported, or None when all can."""
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return module
    return None


def available(extra: str) -> bool:
    """Whether every module of ``extra`` is installed."""
    return missing(extra) is None


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return TORCH_HINT if extra == "deep" else f"pip install 'livermets[{extra}]'"


def require(extra: str, what: str) -> None:
    """Raise MissingExtraError naming the package and the install command unless ``extra``
    is installed; ``what`` says which feature needs it."""
    module = missing(extra)
    if module is not None:
        raise MissingExtraError(
            f"{what} needs the optional package {module!r} (livermets[{extra}]), which is not "
            f"installed. Install it with: {install_hint(extra)}")
