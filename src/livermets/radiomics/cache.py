"""A resumable Parquet feature cache keyed by image, mask, params and engine version.

Each finished task is written at once as its own small Parquet file under ``parts/`` (atomic
rename), so a killed run loses nothing already computed; ``compact()`` folds the parts into
``cache.parquet``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from pathlib import Path

import pandas as pd

from livermets._atomic import write_table

CACHE_COLUMNS = [
    "key", "engine_version", "params_hash", "image_hash", "mask_hash", "patient_id", "region",
    "lesion_id", "n_voxels", "texture", "note", "features",
]  # fmt: skip


def cache_key(engine_version: str, params_hash: str, image_hash: str, mask_hash: str) -> str:
    """The cache key of one region's features."""
    text = "|".join((engine_version, params_hash, image_hash, mask_hash))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def encode_features(features: dict[str, float]) -> str:
    """Features as JSON (exact float round trip; NaN kept)."""
    return json.dumps(features, allow_nan=True)


def decode_features(text: str) -> dict[str, float]:
    """Features from their JSON."""
    return {k: (math.nan if v is None else float(v)) for k, v in json.loads(text).items()}


class FeatureCache:
    """Region features on disk: ``cache.parquet`` plus not-yet-compacted ``parts/*.parquet``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.parts = self.folder / "parts"
        self.main = self.folder / "cache.parquet"
        self._records: dict[str, dict] | None = None
        self.repairs: list[str] = []  # unreadable files removed (their regions are recomputed)

    def _part_files(self) -> list[Path]:
        """Finished part files (not the hidden temporary files of an unfinished write)."""
        if not self.parts.is_dir():
            return []
        return sorted(p for p in self.parts.glob("*.parquet") if not p.name.startswith("."))

    def _read_file(self, path: Path) -> pd.DataFrame | None:
        """A stored table; an unreadable one (damaged, foreign, wrong columns) is removed."""
        try:
            frame = pd.read_parquet(path)
            if set(CACHE_COLUMNS) <= set(frame.columns):
                return frame
            problem = f"not a feature cache (columns {list(frame.columns)[:5]})"
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            problem = str(exc).strip().splitlines()[0][:200]
        path.unlink(missing_ok=True)
        self.repairs.append(f"removed unreadable feature cache file {path} ({problem}); its "
                            "regions are computed again")
        return None

    def _read(self) -> dict[str, dict]:
        """Every stored record by key (parts override the compacted table)."""
        paths = [self.main] if self.main.is_file() else []
        frames = [f for p in [*paths, *self._part_files()] if (f := self._read_file(p)) is not None]
        if not frames:
            return {}
        table = pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")
        return {rec["key"]: rec for rec in table.to_dict("records")}

    @property
    def records(self) -> dict[str, dict]:
        """Stored records by key (read once)."""
        if self._records is None:
            self._records = self._read()
        return self._records

    def get(self, key: str) -> dict | None:
        """The stored record of a key, or None."""
        return self.records.get(key)

    def put(self, records: list[dict]) -> None:
        """Store the records of one finished task now (one atomic Parquet file)."""
        if not records:
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(records, columns=CACHE_COLUMNS)
        frame["lesion_id"] = frame["lesion_id"].astype("Int64")
        write_table(frame, self.parts / f"{uuid.uuid4().hex}.parquet")
        for rec in records:
            self.records[rec["key"]] = rec

    def compact(self) -> int:
        """Fold the parts into ``cache.parquet``; return the number of records."""
        parts = self._part_files()
        if self.parts.is_dir():  # temporary files of a run killed mid-write
            for stale in self.parts.glob(".*"):
                stale.unlink(missing_ok=True)
        if not parts:
            return len(self.records)
        self._records = None
        records = self.records
        frame = pd.DataFrame(list(records.values()), columns=CACHE_COLUMNS)
        frame["lesion_id"] = frame["lesion_id"].astype("Int64")
        write_table(frame, self.main)
        for part in parts:
            part.unlink(missing_ok=True)
        return len(records)
