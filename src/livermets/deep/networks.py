"""MONAI DenseNet / ResNet backbones, iterative phase fusion, the image (+ clinical) classifier."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from livermets.deep.config import BACKBONES
from livermets.errors import ConfigError, InputFileError

_DENSENET = {
    "densenet121": dict(init_features=64, growth_rate=32, block_config=(6, 12, 24, 16)),
    "densenet169": dict(init_features=64, growth_rate=32, block_config=(6, 12, 32, 32)),
    "densenet201": dict(init_features=64, growth_rate=32, block_config=(6, 12, 48, 32)),
    "densenet_tiny": dict(init_features=16, growth_rate=8, block_config=(2, 2), bn_size=2),
}


class Encoder(nn.Module):
    """A MONAI backbone cut before its classifier: images -> feature maps (``out_features``)."""

    def __init__(self, backbone: str, spatial_dims: int, in_channels: int) -> None:
        super().__init__()
        from monai.networks import nets

        if backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {backbone!r}; allowed: {', '.join(BACKBONES)}")
        self.kind = "densenet" if backbone.startswith("densenet") else "resnet"
        if self.kind == "densenet":
            net = nets.DenseNet(spatial_dims, in_channels, 2, **_DENSENET[backbone])
            self.body = net.features
            self.out_features = net.class_layers.out.in_features
        else:
            net = getattr(nets, backbone)(spatial_dims=spatial_dims, n_input_channels=in_channels,
                                          conv1_t_stride=2, feed_forward=False)
            self.body = nn.Sequential(net.conv1, net.bn1, net.act, net.maxpool, net.layer1,
                                      net.layer2, net.layer3, net.layer4)
            self.out_features = int(net.in_planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps after a final ReLU."""
        return F.relu(self.body(x))


def _conv_block(spatial_dims: int, channels_in: int, channels_out: int) -> nn.Module:
    """Conv (3x3) + batch norm + ReLU, in 2D or 3D."""
    conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d
    return nn.Sequential(conv(channels_in, channels_out, 3, padding=1, bias=False),
                         norm(channels_out), nn.ReLU())


class PhaseFusion(nn.Module):
    """Iterative fusion of per-phase feature maps in temporal order (NC -> A -> V -> [D]).

    Each step concatenates the running fused map with the next phase's map and applies a conv
    block; a phase a case lacks (``present`` False) is skipped, so cases with 3 or 4 phases share
    one model.
    """

    def __init__(self, n_phases: int, channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _conv_block(spatial_dims, 2 * channels, channels) for _ in range(n_phases - 1))

    def forward(self, maps: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Fuse ``maps`` [B, P, C, ...] with ``present`` [B, P] (bool) into [B, C, ...]."""
        shape = (-1,) + (1,) * (maps.dim() - 2)
        present = present.to(torch.bool)
        fused = maps[:, 0] * present[:, 0].view(shape).to(maps.dtype)
        started = present[:, 0].clone()
        for p, block in enumerate(self.blocks, start=1):
            current = maps[:, p]
            combined = block(torch.cat([fused, current], dim=1))
            step = torch.where(started.view(shape), combined, current)
            fused = torch.where(present[:, p].view(shape), step, fused)
            started = started | present[:, p]
        return fused


class LesionNet(nn.Module):
    """Crops (+ optional clinical vector) -> class logits; ``embed`` gives the penultimate layer."""

    def __init__(self, backbone: str, spatial_dims: int, n_phases: int, channels_per_phase: int,
                 n_classes: int, fusion: str = "early", n_clinical: int = 0,
                 clinical_hidden: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.fusion, self.n_phases, self.cpp = fusion, n_phases, channels_per_phase
        in_channels = channels_per_phase * (n_phases if fusion == "early" else 1)
        self.encoder = Encoder(backbone, spatial_dims, in_channels)
        width = self.encoder.out_features
        self.phase_fusion = (PhaseFusion(n_phases, width, spatial_dims)
                             if fusion == "iterative" and n_phases > 1 else None)
        self.n_clinical = n_clinical
        self.dropout = nn.Dropout(dropout)
        if n_clinical:
            self.mlp = nn.Sequential(nn.Linear(width + n_clinical, clinical_hidden), nn.ReLU())
            self.embedding_size = clinical_hidden
        else:
            self.mlp = nn.Identity()
            self.embedding_size = width
        self.head = nn.Linear(self.embedding_size, n_classes)
        self.feature_map: torch.Tensor | None = None

    def maps(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """The (fused) last feature maps of ``x``."""
        if self.fusion == "early" or self.n_phases == 1:
            return self.encoder(x)
        b = x.shape[0]
        per_phase = x.reshape(b * self.n_phases, self.cpp, *x.shape[2:])
        maps = self.encoder(per_phase)
        maps = maps.reshape(b, self.n_phases, *maps.shape[1:])
        if present is None:
            present = torch.ones(b, self.n_phases, dtype=torch.bool, device=x.device)
        assert self.phase_fusion is not None
        return self.phase_fusion(maps, present)

    def embed(self, x: torch.Tensor, present: torch.Tensor | None = None,
              clinical: torch.Tensor | None = None) -> torch.Tensor:
        """Penultimate-layer embedding."""
        fmap = self.maps(x, present)
        self.feature_map = fmap
        pooled = torch.flatten(F.adaptive_avg_pool2d(fmap, 1) if fmap.dim() == 4
                               else F.adaptive_avg_pool3d(fmap, 1), 1)
        if self.n_clinical:
            if clinical is None:
                raise ConfigError("this model fuses clinical data: pass the clinical vector.")
            pooled = self.mlp(torch.cat([pooled, clinical.to(pooled.dtype)], dim=1))
        return pooled

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None,
                clinical: torch.Tensor | None = None, with_embedding: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Class logits (and the embedding, with ``with_embedding``)."""
        embedding = self.embed(x, present, clinical)
        logits = self.head(self.dropout(embedding))
        return (logits, embedding) if with_embedding else logits


def load_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Load a local weights file into ``model`` (matching names and shapes); loaded key names."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"weights file {path} does not exist (downloads are not attempted).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputFileError(f"cannot read weights {path}: {exc}") from None
    state = state.get("model", state.get("state_dict", state)) if isinstance(state, dict) else state
    own = model.state_dict()
    loadable = {}
    for key, value in state.items():
        for candidate in (key, f"encoder.body.{key}", key.removeprefix("features.")):
            name = candidate if candidate in own else f"encoder.body.{candidate}"
            if name in own and own[name].shape == value.shape:
                loadable[name] = value
                break
    if not loadable:
        raise InputFileError(
            f"no tensor of {path} matches the model (names or shapes differ); check the backbone, "
            "spatial dims and input channels."
        )
    model.load_state_dict(loadable, strict=False)
    return sorted(loadable)
