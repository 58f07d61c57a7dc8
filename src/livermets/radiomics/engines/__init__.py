"""Radiomics engines behind one interface, registered by name."""

from livermets.radiomics.engines.base import (
    Engine,
    IbsiEntry,
    available_engines,
    get_engine,
    register_engine,
)
from livermets.radiomics.engines.pyradiomics_engine import PyradiomicsEngine

register_engine("pyradiomics", PyradiomicsEngine)

__all__ = [
    "Engine",
    "IbsiEntry",
    "PyradiomicsEngine",
    "available_engines",
    "get_engine",
    "register_engine",
]
