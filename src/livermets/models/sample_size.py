"""Events per variable and sample-size checks of a logistic model, with warnings in words."""

from __future__ import annotations

from typing import Any

import numpy as np

EPV_MIN = 10.0  # the traditional rule of thumb (Peduzzi et al. 1996)
EPV_SEVERE = 5.0
MARGIN = 0.05  # Riley et al. 2020, criterion (iii): the overall risk within +-0.05


def events_per_variable(y: np.ndarray, classes: list[str], candidates: int, selected: int
                        ) -> dict[str, Any]:
    """Events (cases of the rarer class) per candidate and per selected variable, and the sample
    size that estimates the overall risk to within +-0.05 (plain numbers)."""
    y = np.asarray(y).astype(int)
    counts = np.bincount(y, minlength=2)
    rarer = int(np.argmin(counts))
    events = int(counts[rarer])
    n = len(y)
    risk = float(counts[1] / n) if n else float("nan")
    return {
        "n": n, "events": events, "rarer_class": classes[rarer], "candidates": int(candidates),
        "selected": int(selected),
        "epv_candidates": events / candidates if candidates else float("inf"),
        "epv_selected": events / selected if selected else float("inf"),
        "overall_risk": risk,
        "risk_margin": float(1.96 * np.sqrt(risk * (1 - risk) / n)) if n else float("nan"),
        "n_for_margin": int(np.ceil((1.96 / MARGIN) ** 2 * risk * (1 - risk))),
    }


def _epv_line(epv: float, events: int, count: int, what: str) -> str | None:
    if epv >= EPV_MIN:
        return None
    severity = "severe (below 5)" if epv < EPV_SEVERE else "below 10"
    return (f"Events per variable {epv:.1f} for the {count} {what} variable(s) ({events} events "
            f"in the rarer outcome class): {severity}; expect overfitting and odds ratios "
            "biased away from 1. Fewer variables, more patients, or Firth's method help.")


def sample_size_warnings(epv: dict[str, Any]) -> list[str]:
    """Warnings, in words with the counts, for EPV < 10 (severe < 5) among candidate and selected
    variables, and for too few cases to estimate the overall risk to within +-0.05."""
    lines = [_epv_line(epv["epv_candidates"], epv["events"], epv["candidates"], "candidate")]
    if epv["selected"] != epv["candidates"]:
        lines.append(_epv_line(epv["epv_selected"], epv["events"], epv["selected"], "selected"))
    if epv["risk_margin"] > MARGIN:
        lines.append(
            f"{epv['n']} cases estimate the overall risk ({epv['overall_risk']:.2f}) only to "
            f"within +-{epv['risk_margin']:.2f} (95%); Riley et al. (BMJ 2020) ask for +-0.05, "
            f"which needs at least {epv['n_for_margin']} cases."
        )
    return [line for line in lines if line]
