"""The multi-phase, multi-class 3D segmentation network.

Layout: one small conv block per phase (phase-specific stems, not shared: NC, arterial, venous
and delayed images differ in contrast), ``PhaseFusion`` merging the stems' maps in temporal order
with a ``present`` mask (a missing delayed phase is skipped by the fusion, never imputed, so 3 and
4 phases give the same output shape), then a U-Net of MONAI ``UnetBasicBlock`` / ``UnetUpBlock``
(stride 2 on every axis per level) ending in a per-voxel head with 2 + C channels (background,
liver, C lesion classes).

Two extra heads:

- lesion head: the last decoder features are averaged over each lesion instance (reference
  instances in training, predicted connected components at inference), concatenated with the mean
  normalised input intensity of every phase inside the instance (``lesion_intensity``: the
  per-phase enhancement pattern that tells the classes apart, a cheap and scale-stable signal; an
  absent phase is zero), projected to an embedding (L2-normalised for the supervised contrastive
  loss) and mapped to C class logits;
- patient head (the older rule, kept for comparison): global average + max pooling of the
  bottleneck -> C multi-label logits ("does the patient have a lesion of class k").

Why pooled-embedding lesion classification rather than query-based mask classification
(Mask2Former-style object queries with Hungarian matching): the queries need a transformer
decoder, many iterations and large batches to converge, which a CPU cannot give at this size.
Pooling the decoder features over each instance reuses the segmentation's features, costs one
linear projection, trains with every lesion in a patch as a sample from the first iteration, and
gives one embedding per lesion for the contrastive loss.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from livermets.deep.multiphase.config import N_TISSUE, MultiphaseSettings
from livermets.deep.networks import PhaseFusion

NORM = "instance"


class MultiPhaseOutput(NamedTuple):
    """Network outputs of one batch."""

    voxel_logits: torch.Tensor  # [B, 2 + C, Z, Y, X]
    features: torch.Tensor  # [B, F, Z, Y, X] (last decoder level)
    patient_logits: torch.Tensor  # [B, C]


class LesionOutput(NamedTuple):
    """Lesion-head outputs: one row per (batch item, instance id)."""

    logits: torch.Tensor  # [N, C]
    embeddings: torch.Tensor  # [N, E], L2-normalised
    index: torch.Tensor  # [N, 2] long: (batch item, instance id)


def instance_means(features: torch.Tensor, instances: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean feature vector of every instance id > 0: ([N, F], index [N, 2] = (batch, id))."""
    b_size, n_feat = features.shape[:2]
    flat = instances.reshape(b_size, -1).long()
    pooled, index = [], []
    for b in range(b_size):
        ids = torch.unique(flat[b])
        ids = ids[ids > 0]
        if not len(ids):
            continue
        inside = flat[b] > 0
        slot = torch.searchsorted(ids, flat[b][inside])
        values = features[b].reshape(n_feat, -1)[:, inside].T
        sums = torch.zeros(len(ids), n_feat, dtype=features.dtype, device=features.device)
        sums = sums.index_add(0, slot, values)
        counts = torch.bincount(slot, minlength=len(ids)).to(features.dtype)
        pooled.append(sums / counts[:, None])
        index.append(torch.stack([torch.full_like(ids, b), ids], dim=1))
    if not pooled:
        return (features.new_zeros((0, n_feat)),
                torch.zeros((0, 2), dtype=torch.long, device=features.device))
    return torch.cat(pooled), torch.cat(index)


LESION_PRIOR = 0.02  # initial summed lesion-class probability of every voxel


def voxel_prior_bias(n_classes: int, lesion_prior: float = LESION_PRIOR) -> torch.Tensor:
    """Initial voxel-head biases: background and liver share ``1 - lesion_prior``, the lesion
    classes share ``lesion_prior`` (log-probabilities; RetinaNet-style prior initialisation).

    With zero biases the C lesion classes start with a summed probability of C / (2 + C) (0.8
    for 8 classes) everywhere, and the first hundreds of iterations only push that down."""
    prior = torch.full((N_TISSUE + n_classes,), lesion_prior / n_classes)
    prior[:N_TISSUE] = (1 - lesion_prior) / N_TISSUE
    return prior.log()


class MultiPhaseSegNet(nn.Module):
    """Phase stems -> iterative phase fusion -> U-Net -> voxel, lesion and patient heads."""

    def __init__(self, settings: MultiphaseSettings) -> None:
        super().__init__()
        from monai.networks.blocks.dynunet_block import UnetBasicBlock, UnetOutBlock, UnetUpBlock

        s, feats = settings.stem_channels, settings.features
        self.phases = tuple(settings.phases)
        self.levels = len(feats)
        self.stems = nn.ModuleList(UnetBasicBlock(3, 1, s, 3, 1, NORM) for _ in self.phases)
        self.fusion = PhaseFusion(len(self.phases), s, spatial_dims=3)
        self.down = nn.ModuleList(
            UnetBasicBlock(3, s if i == 0 else feats[i - 1], feats[i], 3, 1 if i == 0 else 2, NORM)
            for i in range(self.levels))
        self.up = nn.ModuleList(UnetUpBlock(3, feats[i], feats[i - 1], 3, 1, 2, NORM)
                                for i in range(self.levels - 1, 0, -1))
        self.voxel_head = UnetOutBlock(3, feats[0], settings.n_outputs)
        with torch.no_grad():  # prior: lesions are rare (see ``LESION_PRIOR``)
            self.voxel_head.conv.conv.bias.copy_(voxel_prior_bias(settings.n_classes))
        self.patient_head = nn.Linear(2 * feats[-1], settings.n_classes)
        self.lesion_intensity = settings.lesion_intensity
        pooled = feats[0] + (len(self.phases) if self.lesion_intensity else 0)
        self.projection = nn.Sequential(nn.Linear(pooled, settings.embedding_size), nn.ReLU(),
                                        nn.Linear(settings.embedding_size,
                                                  settings.embedding_size))
        self.lesion_classifier = nn.Linear(settings.embedding_size, settings.n_classes)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Replicate-pad the spatial dims to a multiple of 2^(levels - 1)."""
        factor = 2 ** (self.levels - 1)
        shape = tuple(x.shape[2:])
        extra = [(-n) % factor for n in shape]
        if not any(extra):
            return x, shape
        pad = [v for e in reversed(extra) for v in (0, e)]
        return F.pad(x, pad, mode="replicate"), shape

    def fuse(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Per-phase stems fused in temporal order; absent phases contribute nothing."""
        present = present.to(device=x.device, dtype=torch.bool)
        maps = torch.stack([stem(x[:, p:p + 1]) for p, stem in enumerate(self.stems)], dim=1)
        maps = maps * present.view(*present.shape, 1, 1, 1, 1).to(maps.dtype)
        return self.fusion(maps, present)

    def encode(self, x: torch.Tensor, present: torch.Tensor) -> list[torch.Tensor]:
        """Encoder outputs of every level (the last is the bottleneck)."""
        skips, h = [], self.fuse(x, present)
        for block in self.down:
            h = block(h)
            skips.append(h)
        return skips

    def _patient(self, bottleneck: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([bottleneck.mean(dim=(2, 3, 4)), bottleneck.amax(dim=(2, 3, 4))], 1)
        return self.patient_head(pooled)

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> MultiPhaseOutput:
        """Voxel logits, decoder features and patient logits of ``x`` [B, P, Z, Y, X]."""
        x, shape = self._pad(x)
        skips = self.encode(x, present)
        h = skips[-1]
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            h = block(h, skip)
        crop = (slice(None), slice(None), *(slice(0, n) for n in shape))
        return MultiPhaseOutput(self.voxel_head(h)[crop], h[crop], self._patient(skips[-1]))

    def patient_logits(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Patient-head logits from the encoder alone (cheap on a whole volume)."""
        x, _ = self._pad(x)
        return self._patient(self.encode(x, present)[-1])

    def lesion_head(self, features: torch.Tensor, instances: torch.Tensor,
                    image: torch.Tensor | None = None) -> LesionOutput:
        """Class logits and embeddings of every instance: decoder ``features`` [B, F, Z, Y, X]
        averaged over its voxels, followed (``lesion_intensity``) by the mean of every phase of
        the normalised input ``image`` [B, P, Z, Y, X] over them (absent phases zeroed)."""
        pooled, index = instance_means(features, instances)
        if self.lesion_intensity:
            if image is None or image.shape[2:] != features.shape[2:]:
                raise ValueError("this lesion head pools the input intensities too: pass the "
                                 "image [B, P, Z, Y, X] on the features' grid")
            pooled = torch.cat([pooled, instance_means(image.to(features.dtype), instances)[0]],
                               dim=1)
        z = self.projection(pooled)
        return LesionOutput(self.lesion_classifier(z), F.normalize(z, dim=1), index)
