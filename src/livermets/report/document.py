"""A self-contained HTML report built from sections that pipeline stages contribute."""

from __future__ import annotations

import base64
import datetime
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from livermets import __version__
from livermets._atomic import write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Block:
    """One piece of a section: HTML that is already safe to embed."""

    html: str


@dataclass
class Section:
    """A titled part of the report (e.g. 'Cohort', 'Models'), made of blocks."""

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    order: int = 100
    csv_tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def text(self, text: str) -> Section:
        """Add a paragraph of plain text."""
        self.blocks.append(Block(f"<p>{html.escape(text)}</p>"))
        return self

    def note(self, text: str) -> Section:
        """Add a highlighted note (e.g. that the data are synthetic)."""
        self.blocks.append(Block(f'<p class="note">{html.escape(text)}</p>'))
        return self

    def table(self, df: pd.DataFrame, caption: str = "", index: bool = False,
              csv: str | None = None, full: pd.DataFrame | None = None) -> Section:
        """Add a table with an optional caption. ``csv`` names it: the report then also writes
        it (or ``full``, e.g. unrounded numbers or all rows) as ``tables/<csv>.csv`` beside
        itself, and a study puts it in metrics.json."""
        if csv is not None:
            data = full if full is not None else df
            self.csv_tables[csv] = data.reset_index() if index and full is None else data
        body = df.to_html(index=index, escape=True, na_rep="", border=0, classes="data")
        cap = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
        self.blocks.append(Block(f"<div class='table'>{body}{cap}</div>"))
        return self

    def figure(self, png: bytes, caption: str, alt: str | None = None) -> Section:
        """Add a PNG figure, embedded as a data URI."""
        data = base64.b64encode(png).decode("ascii")
        self.blocks.append(
            Block(
                f"<figure><img src='data:image/png;base64,{data}' "
                f"alt='{html.escape(alt or caption)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        )
        return self


@dataclass
class Report:
    """The report: a title, provenance and ordered sections."""

    title: str
    synthetic: bool = False
    sections: list[Section] = field(default_factory=list)

    def section(self, key: str, title: str, order: int = 100) -> Section:
        """Get or create the section with this key."""
        for existing in self.sections:
            if existing.key == key:
                return existing
        created = Section(key, title, order=order)
        self.sections.append(created)
        return created

    def named_tables(self) -> dict[str, pd.DataFrame]:
        """The tables given a ``csv`` name, in section order."""
        return {name: df for section in sorted(self.sections, key=lambda s: s.order)
                for name, df in section.csv_tables.items()}

    def render(self) -> str:
        """The whole report as one HTML string (no external resources)."""
        env = Environment(
            loader=PackageLoader("livermets.report", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
        )
        template = env.get_template("report.html.j2")
        return template.render(
            title=self.title,
            synthetic=self.synthetic,
            sections=sorted(self.sections, key=lambda s: s.order),
            version=__version__,
            created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )

    def write(self, path: str | Path) -> Path:
        """Write the report atomically, and its named tables as ``tables/<name>.csv``."""
        from livermets._atomic import write_table

        path = Path(path)
        for name, df in self.named_tables().items():
            write_table(df, path.parent / "tables" / f"{name}.csv")
        return write_text(path, self.render())


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """PNG bytes of a matplotlib figure (which is then closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
