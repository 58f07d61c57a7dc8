"""The engine interface and the engine registry (pyradiomics, MIRP, and any later engine)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import SimpleITK as sitk

from livermets._registry import Registry
from livermets.radiomics.params import Extraction


@dataclass(frozen=True)
class IbsiEntry:
    """How one engine feature maps onto IBSI-1: tag stems, a conversion, and compliance."""

    feature: str
    tags: tuple[str, ...]
    compliant: bool
    offset: float = 0.0
    note: str = ""


class Engine(ABC):
    """A radiomics engine: features of one image region, pyradiomics-style names."""

    name: str = ""

    @abstractmethod
    def version(self) -> str:
        """Engine name and version, part of the cache key (a new version recomputes)."""

    @abstractmethod
    def extract(
        self, image: sitk.Image, mask: sitk.Image, extraction: Extraction, *, texture: bool = True
    ) -> dict[str, float]:
        """Features of the region ``mask == 1`` of ``image``; shape + first order only if not
        ``texture``."""

    def ibsi_map(self) -> dict[str, IbsiEntry]:
        """IBSI-1 mapping of this engine's features, keyed by ``<class>_<feature>``."""
        return {}


ENGINES: Registry[Engine] = Registry("radiomics engine")
_INSTANCES: dict[str, Engine] = {}


def register_engine(name: str, factory: Callable[[], Engine]) -> None:
    """Register an engine factory under a name (``engine:`` in parameter files); the same as
    ``ENGINES.register(name)(factory)``, and a name registered twice raises."""
    ENGINES.register(name)(factory)


def available_engines() -> list[str]:
    """Names of the registered engines, sorted."""
    return sorted(ENGINES)


def get_engine(name: str) -> Engine:
    """The engine registered under ``name`` (one instance per process); a ``ConfigError``
    listing the choices for an unknown name."""
    entry = ENGINES.get(name)
    if name not in _INSTANCES:
        _INSTANCES[name] = entry.factory()
    return _INSTANCES[name]
