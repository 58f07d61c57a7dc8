"""``livermets stats ...``: the statistics layer on any CSV."""

from __future__ import annotations

from livermets.cli._common import new_app

app = new_app("Diagnostic-accuracy, calibration, decision-curve, survival and MRMC statistics.")
