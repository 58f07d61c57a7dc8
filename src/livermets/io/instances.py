"""Split a lesion label map into connected-component instances."""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np

from livermets.errors import ConfigError

CONNECTIVITY = {6: 6, 18: 18, 26: 26}


@dataclass(frozen=True)
class LesionInstance:
    """One connected component of one label value; ``bbox`` is (z0, z1, y0, y1, x0, x1)."""

    instance: int
    source_label: int
    n_voxels: int
    bbox: tuple[int, int, int, int, int, int]

    def crop(self, array: np.ndarray) -> np.ndarray:
        """The bounding-box crop of an array shaped like the label map (z, y, x)."""
        z0, z1, y0, y1, x0, x1 = self.bbox
        return array[z0:z1, y0:y1, x0:x1]


def split_instances(
    labels: np.ndarray, connectivity: int = 26
) -> tuple[np.ndarray, list[LesionInstance]]:
    """Instance map and instances (never crossing label values), ordered by label then scan."""
    if connectivity not in CONNECTIVITY:
        raise ConfigError(f"connectivity must be 6, 18 or 26 (got {connectivity}).")
    if labels.ndim != 3:
        raise ConfigError(f"lesion masks must be 3D (got {labels.ndim} dimensions).")
    full_shape = labels.shape
    crop = _foreground_box(labels)
    if crop is None:
        return np.zeros(full_shape, dtype=np.uint32), []
    # work inside the box that holds every lesion: whole CT volumes are mostly background
    labels = np.ascontiguousarray(labels[crop])
    offset = tuple(int(s.start) for s in crop)
    components = cc3d.connected_components(labels, connectivity=connectivity, out_dtype=np.uint32)
    n = int(components.max())
    stats = cc3d.statistics(components)
    boxes = stats["bounding_boxes"]
    counts = stats["voxel_counts"]
    # cc3d numbers components in scan order; read each one's source label at one of its voxels
    flat_first = np.full(n + 1, -1, dtype=np.int64)
    flat = components.ravel()
    nz = np.flatnonzero(flat)
    ids = flat[nz]
    order = np.argsort(ids, kind="stable")
    uniq, first = np.unique(ids[order], return_index=True)
    flat_first[uniq] = nz[order][first]
    source = labels.ravel()[flat_first[1:]]
    found = []
    for cid in range(1, n + 1):
        sz, sy, sx = boxes[cid]
        found.append(
            (
                int(source[cid - 1]),
                cid,
                int(counts[cid]),
                (
                    sz.start + offset[0],
                    sz.stop + offset[0],
                    sy.start + offset[1],
                    sy.stop + offset[1],
                    sx.start + offset[2],
                    sx.stop + offset[2],
                ),
            )
        )
    found.sort(key=lambda item: (item[0], item[1]))
    remap = np.zeros(n + 1, dtype=np.uint32)
    instances = []
    for new_id, (src, cid, count, box) in enumerate(found, start=1):
        remap[cid] = new_id
        instances.append(LesionInstance(new_id, src, count, box))
    instance_map = np.zeros(full_shape, dtype=np.uint32)
    instance_map[crop] = remap[components]
    return instance_map, instances


def _foreground_box(labels: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The smallest box holding every non-zero voxel, or None for an empty mask."""
    z = np.flatnonzero(labels.any(axis=(1, 2)))
    if z.size == 0:
        return None
    slab = labels[z[0] : z[-1] + 1]
    y = np.flatnonzero(slab.any(axis=(0, 2)))
    x = np.flatnonzero(slab.any(axis=(0, 1)))
    return slice(z[0], z[-1] + 1), slice(y[0], y[-1] + 1), slice(x[0], x[-1] + 1)
