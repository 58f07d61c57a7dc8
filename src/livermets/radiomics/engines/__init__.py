"""Radiomics engines behind one interface, registered by name."""

from livermets.radiomics.engines.base import (
    ENGINES,
    Engine,
    IbsiEntry,
    available_engines,
    get_engine,
    register_engine,
)
from livermets.radiomics.engines.mirp_engine import MirpEngine
from livermets.radiomics.engines.pyradiomics_engine import PyradiomicsEngine

ENGINES.register("pyradiomics")(PyradiomicsEngine)
# MIRP is optional (livermets[ibsi]): its module imports mirp only when the engine is created, and
# get_engine("mirp") without it raises a ConfigError with the install command.
ENGINES.register("mirp")(MirpEngine)

__all__ = [
    "ENGINES",
    "Engine",
    "IbsiEntry",
    "MirpEngine",
    "PyradiomicsEngine",
    "available_engines",
    "get_engine",
    "register_engine",
]
