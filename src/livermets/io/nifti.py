"""NIfTI completeness: ITK zero-fills a truncated file silently, so check its size ourselves."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

from livermets.errors import InputFileError

_CHUNK = 1 << 22


def expected_nifti_bytes(header: bytes) -> int | None:
    """Header plus voxel bytes a NIfTI-1 or NIfTI-2 header describes; None if it is neither."""
    for endian in "<>":
        if len(header) >= 348 and struct.unpack(f"{endian}i", header[:4])[0] == 348:
            dims = struct.unpack(f"{endian}8h", header[40:56])
            bitpix = struct.unpack(f"{endian}h", header[72:74])[0]
            offset = struct.unpack(f"{endian}f", header[108:112])[0]
            break
        if len(header) >= 540 and struct.unpack(f"{endian}i", header[:4])[0] == 540:
            bitpix = struct.unpack(f"{endian}h", header[14:16])[0]
            dims = struct.unpack(f"{endian}8q", header[16:80])
            offset = struct.unpack(f"{endian}q", header[168:176])[0]
            break
    else:
        return None
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0 or not math.isfinite(offset):
        return None
    voxels = math.prod(max(int(d), 1) for d in dims[1 : ndim + 1])
    return int(offset) + voxels * bitpix // 8


def _gzip_length(path: Path, expected: int) -> int | None:
    """Uncompressed length of a gzip file; None when its data end early or are damaged."""
    with path.open("rb") as handle:
        handle.seek(-4, 2)
        if int.from_bytes(handle.read(4), "little") == expected % (1 << 32):
            return expected  # the trailer's length matches: the stream was written to its end
    total = 0
    try:  # rare (multi-member gzip, or damage): decompress to be sure
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
    except (EOFError, zlib.error, OSError):
        return None
    return total


def check_nifti_complete(path: str | Path) -> None:
    """Raise ``InputFileError`` when a .nii(.gz) file holds fewer bytes than its header says."""
    path = Path(path)
    name = path.name.lower()
    compressed = name.endswith(".nii.gz")
    if not (compressed or name.endswith(".nii")):
        return
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as handle:
            expected = expected_nifti_bytes(handle.read(540))
    except (EOFError, zlib.error, OSError):
        expected = None
    if expected is None:
        return  # not a header we can size; ITK has already read it
    actual = _gzip_length(path, expected) if compressed else path.stat().st_size
    if actual is None or actual < expected:
        found = "the compressed data end early" if actual is None else f"it holds {actual:,}"
        raise InputFileError(
            f"image {path} is truncated or damaged: its header describes {expected:,} bytes, "
            f"{found}. Copy or convert the file again (an interrupted download or copy?)."
        )
