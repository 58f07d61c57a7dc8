"""``livermets docs [TOPIC]``: the user guides, readable from any install (no checkout needed)."""

from __future__ import annotations

import typer

from livermets._docs import docs_dir, guide_text, topics
from livermets.cli._common import console


def docs(
    topic: str | None = typer.Argument(None, help="A guide: radiomics, readers, models, ..."),
    path: bool = typer.Option(False, "--path", help="Print where the guide's file is instead."),
) -> None:
    """Print one of the user guides (docs/*.md), or list them."""
    if topic is None:
        folder = docs_dir()
        console.print("guides: " + ", ".join(topics()) + (f"  ({folder})" if folder else ""),
                      highlight=False)
        console.print("show one with `livermets docs TOPIC`", highlight=False)
        return
    text = guide_text(topic)
    if path:
        typer.echo(str(docs_dir() / f"{topic.removesuffix('.md')}.md"))
    else:
        typer.echo(text, nl=False)
