"""The manifest's ``split`` column of a synthetic cohort: patients dealt to train / validation /
test (or any names) by fractions or per-class counts, stratified by the patient label, seeded.

``--split train=0.6,validation=0.2,test=0.2`` gives each split that fraction of every class's
patients (largest remainders, then the order given); ``--split validation=4,test=4+4`` gives a
split a number of patients per class (one number for every class, or one per class in sorted
class order, joined by ``+``) and the rest go to ``train``; ``--holdout 4+4`` is ``--split
test=4+4``. All rows of a patient share its split (the manifest has one row per patient).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from livermets.errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
REST = "train"


@dataclass(frozen=True)
class SplitSpec:
    """Split names with a fraction each (``fractions``) or patients per class (``counts``)."""

    fractions: dict[str, float] | None = None
    counts: dict[str, tuple[int, ...]] | None = None

    def describe(self) -> str:
        """The spec as the option text (``train=0.6,...`` or ``test=4+4``)."""
        if self.fractions is not None:
            return ",".join(f"{k}={v:g}" for k, v in self.fractions.items())
        return ",".join(f"{k}={'+'.join(map(str, v))}" for k, v in (self.counts or {}).items())


def _bad(text: str, why: str) -> ConfigError:
    return ConfigError(
        f"--split {text!r}: {why}. Write fractions that sum to 1 (train=0.6,validation=0.2,"
        "test=0.2) or patients per class, the rest in train (validation=4+4,test=4+4), or "
        "--holdout 4+4."
    )


def parse_split(text: str) -> SplitSpec:
    """Parse ``--split`` (fractions or per-class counts; see the module docstring)."""
    items: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        name, eq, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not eq or not value:
            raise _bad(text, f"{part!r} is not NAME=VALUE")
        if not NAME.match(name):
            raise _bad(text, f"split name {name!r} must be letters, digits, _ or -")
        if name in items:
            raise _bad(text, f"split {name!r} is given twice")
        items[name] = value
    is_count = [bool(re.fullmatch(r"\d+(\+\d+)*", v)) for v in items.values()]
    if any(is_count) and not all(is_count):
        raise _bad(text, "values must be all fractions (0.2) or all patient counts (4, 4+4)")
    if all(is_count):
        if REST in items:
            raise _bad(text, f"with patient counts the rest of the patients go to {REST!r}; "
                       f"do not give {REST} a count")
        return SplitSpec(counts={k: tuple(int(n) for n in v.split("+")) for k, v in
                                 items.items()})
    try:
        fractions = {k: float(v) for k, v in items.items()}
    except ValueError:
        raise _bad(text, "values must be fractions (0.2) or patient counts (4, 4+4)") from None
    if any(not 0 <= f <= 1 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise _bad(text, f"fractions must lie in [0, 1] and sum to 1 (sum "
                   f"{sum(fractions.values()):g})")
    if len(fractions) < 2:
        raise _bad(text, "give two or more splits")
    return SplitSpec(fractions=fractions)


def parse_holdout(text: str) -> SplitSpec:
    """``--holdout 4+4``: that many test patients per class, the rest in train."""
    if not re.fullmatch(r"\s*\d+(\s*\+\s*\d+)*\s*", text):
        raise ConfigError(f"--holdout {text!r}: give test patients per class, e.g. 4+4 "
                          "(4 of each of two classes) or 4 (4 of every class)")
    return SplitSpec(counts={"test": tuple(int(n) for n in text.replace(" ", "").split("+"))})


def _per_class(spec: SplitSpec, n: int, k: int, n_classes: int) -> dict[str, int]:
    """How many of class ``k``'s ``n`` patients each split gets."""
    if spec.fractions is not None:
        exact = {name: f * n for name, f in spec.fractions.items()}
        counts = {name: int(np.floor(v)) for name, v in exact.items()}
        order = sorted(exact, key=lambda s: -(exact[s] - counts[s]))  # stable: order given
        for name in order[: n - sum(counts.values())]:
            counts[name] += 1
        return counts
    counts = {}
    for name, values in (spec.counts or {}).items():
        if len(values) not in (1, n_classes):
            raise ConfigError(
                f"--split/--holdout {name}={'+'.join(map(str, values))}: the cohort has "
                f"{n_classes} patient classes; give one count per class or a single count"
            )
        counts[name] = values[0] if len(values) == 1 else values[k]
    counts[REST] = n - sum(counts.values())
    return counts


def assign_splits(patients: pd.DataFrame, spec: SplitSpec, seed: int) -> pd.Series:
    """The split of every patient (``patient_id``, ``label`` columns), in the given row order.

    Stratified by ``label``; the patients of each class are shuffled by a generator seeded with
    ``seed``, so the same cohort and seed give the same split.
    """
    labels = patients["label"].astype(str).to_numpy()
    classes = sorted(set(labels))
    rng = np.random.default_rng([seed, zlib.crc32(b"split")])
    out = np.empty(len(patients), dtype=object)
    for k, name in enumerate(classes):
        rows = np.flatnonzero(labels == name)
        counts = _per_class(spec, rows.size, k, len(classes))
        if counts.get(REST, 0) < 1 and spec.counts is not None:
            raise ConfigError(
                f"--split/--holdout {spec.describe()}: class {name!r} has {rows.size} patients, "
                f"which leaves none for {REST}; ask for fewer or generate more (--patients; "
                "a rerun reuses the patients already made)"
            )
        order = rows[rng.permutation(rows.size)]
        start = 0
        for split_name, count in counts.items():
            out[order[start:start + count]] = split_name
            start += count
    empty = [s for s in _names(spec) if s not in set(out)]
    if empty:
        raise ConfigError(
            f"--split/--holdout {spec.describe()}: split(s) {empty} get no patient out of "
            f"{len(patients)}; use larger fractions or more patients (--patients; a rerun "
            "reuses the patients already made)"
        )
    return pd.Series(out, index=patients.index, name="split")


def _names(spec: SplitSpec) -> list[str]:
    """Every split name of ``spec`` (counts: plus ``train``)."""
    if spec.fractions is not None:
        return [n for n, f in spec.fractions.items() if f > 0]
    return [*(spec.counts or {}), REST]
