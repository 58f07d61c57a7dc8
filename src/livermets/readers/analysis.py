"""The analysis of a reader study's ratings: Obuchowski-Rockette MRMC overall and per
lesion-size group (``report.readers`` draws it)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from livermets.errors import DataError, LivermetsError
from livermets.stats import mrmc, mrmc_data
from livermets.stats.mrmc import MrmcResult

REQUIRED = ["reader", "modality", "case", "truth", "rating"]


@dataclass(frozen=True)
class ReaderStudyResult:
    """A reader study analysed: its ratings, the MRMC analysis of all cases and of each size
    group, and the size groups that could not be analysed (with why)."""

    ratings: pd.DataFrame
    overall: MrmcResult
    by_size: tuple[tuple[str, MrmcResult], ...] = ()
    not_analysed: tuple[tuple[str, str], ...] = ()


def mrmc_analysis(ratings: pd.DataFrame) -> MrmcResult:
    """OR MRMC (jackknife covariance, random readers and cases) of a ratings table."""
    data = mrmc_data(ratings, reader="reader", modality="modality", case="case", truth="truth",
                     rating="rating")
    return mrmc(data, method="or", cov="jackknife", analysis="random")


def analyse_reader_study(ratings: pd.DataFrame) -> ReaderStudyResult:
    """MRMC of all cases and, with a ``size_group`` column, of every size group (a group that
    cannot be analysed is listed with the reason)."""
    missing = [c for c in REQUIRED if c not in ratings.columns]
    if missing:
        raise DataError(f"the ratings table lacks columns {missing}; use the CSV written by "
                        "`livermets readers export`.")
    overall = mrmc_analysis(ratings)
    by_size, failed = [], []
    if "size_group" in ratings.columns:
        for group, part in ratings.groupby("size_group", sort=True):
            try:
                by_size.append((str(group), mrmc_analysis(part)))
            except LivermetsError as exc:
                failed.append((str(group), str(exc)))
    return ReaderStudyResult(ratings, overall, tuple(by_size), tuple(failed))
