"""Moved to :mod:`livermets.nn.sam` (shared by every training loop); kept so old imports work."""

from livermets.nn.sam import SAM

__all__ = ["SAM"]
