"""Synthetic liver-imaging cohorts with known truth (``livermets synth``).

Public API: ``make_config`` validates the settings, ``generate_cohort`` writes the cohort
(images, masks, manifest, clinical table and truth tables) deterministically from the seed.
"""

from livermets.lesions.measure import size_group  # re-exported: one owner, in lesions
from livermets.synth.cohort import Cohort, generate_cohort
from livermets.synth.config import TASK_NAMES, SynthConfig, make_config
from livermets.synth.scanner import CT_PROTOCOLS, MR_PROTOCOLS, PHASES

__all__ = [
    "CT_PROTOCOLS",
    "MR_PROTOCOLS",
    "PHASES",
    "TASK_NAMES",
    "Cohort",
    "SynthConfig",
    "generate_cohort",
    "make_config",
    "size_group",
]
