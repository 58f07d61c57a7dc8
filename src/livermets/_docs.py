"""The user guides (docs/*.md) as shipped with livermets: found in a wheel or a source checkout."""

from __future__ import annotations

from pathlib import Path

from livermets.errors import ConfigError

_PACKAGED = Path(__file__).parent / "_docs"  # filled by setup.py's build step in a wheel
_CHECKOUT = Path(__file__).resolve().parents[2] / "docs"  # an editable install or a checkout


def docs_dir() -> Path | None:
    """The folder holding the guides, or None when this install has none."""
    for folder in (_PACKAGED, _CHECKOUT):
        if any(folder.glob("*.md")):
            return folder
    return None


def topics() -> list[str]:
    """The guide names (``radiomics``, ``readers``, ...)."""
    folder = docs_dir()
    return sorted(p.stem for p in folder.glob("*.md")) if folder else []


def guide_text(topic: str) -> str:
    """The text of one guide; a clear error for an unknown name."""
    folder = docs_dir()
    path = folder / f"{topic.removesuffix('.md')}.md" if folder else None
    if path is None or not path.is_file():
        raise ConfigError(f"no guide called {topic!r}; the guides are: {', '.join(topics())}. "
                          "Run `livermets docs` to list them.")
    return path.read_text(encoding="utf-8")


def see(topic: str) -> str:
    """The pointer an error message gives: a command that works in any install."""
    return f"`livermets docs {topic}`"
