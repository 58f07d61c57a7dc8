"""The one idiom for report sections of every kind (study, cohort, segmentation, reader study,
the demo's CNN): a ``SectionRegistry`` of ``ReportSection`` entries (key, title, order, when it
applies), each drawn from one small frozen typed input by ``draw_sections``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from livermets._registry import Registry
from livermets.report.document import Report, Section

T = TypeVar("T")


def always(result: T) -> bool:
    """The section is drawn for every input."""
    return True


@dataclass(frozen=True)
class ReportSection(Generic[T]):
    """One report section: HTML id, title, order and when it is drawn from an input ``T``."""

    key: str
    title: str
    order: int
    draw: Callable[[Section, T], None]
    applies: Callable[[T], bool] = always


class SectionRegistry(Registry[ReportSection[T]]):
    """The registered sections of one report kind (a key registered twice raises)."""

    def add(self, key: str, title: str, order: int, draw: Callable[[Section, T], None],
            applies: Callable[[T], bool] = always) -> ReportSection[T]:
        """Register a section and return it."""
        entry = ReportSection(key, title, order, draw, applies)
        self.register(key, description=title)(lambda: entry)
        return entry

    def sections(self) -> list[ReportSection[T]]:
        """Every registered section in report order (equal orders keep registration order)."""
        return sorted((self.create(name) for name in self), key=lambda s: s.order)

    def keys(self) -> list[str]:
        """The registered keys in report order."""
        return [s.key for s in self.sections()]


def draw_sections(report: Report, registry: SectionRegistry[T], result: T) -> list[Section]:
    """Draw every section of ``registry`` that applies to ``result`` into ``report``, in order;
    returns the drawn sections."""
    drawn = []
    for entry in registry.sections():
        if entry.applies(result):
            section = report.section(entry.key, entry.title, entry.order)
            entry.draw(section, result)
            drawn.append(section)
    return drawn
