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
    components = cc3d.connected_components(labels, connectivity=connectivity, out_dtype=np.uint32)
    n = int(components.max())
    if n == 0:
        return components, []
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
                (sz.start, sz.stop, sy.start, sy.stop, sx.start, sx.stop),
            )
        )
    found.sort(key=lambda item: (item[0], item[1]))
    remap = np.zeros(n + 1, dtype=np.uint32)
    instances = []
    for new_id, (src, cid, count, box) in enumerate(found, start=1):
        remap[cid] = new_id
        instances.append(LesionInstance(new_id, src, count, box))
    return remap[components], instances
