"""Backbones, iterative phase fusion (3 and 4 phases, a missing delayed phase), weights files."""

from __future__ import annotations

import pytest
import torch

from livermets.deep.networks import LesionNet, PhaseFusion, load_weights
from livermets.errors import ConfigError, InputFileError


@pytest.mark.parametrize("backbone,dims,shape", [
    ("densenet_tiny", 2, (2, 1, 32, 32)),
    ("resnet10", 2, (2, 1, 32, 32)),
    ("densenet_tiny", 3, (2, 1, 8, 16, 16)),
])
def test_backbone_logits_and_embedding(backbone, dims, shape):
    torch.manual_seed(0)
    net = LesionNet(backbone, dims, 1, 1, 3).eval()
    x = torch.rand(shape)
    assert net(x).shape == (2, 3)
    assert net.embed(x).shape == (2, net.embedding_size)


@pytest.mark.parametrize("n_phases", [3, 4])
def test_fusion_runs_with_3_and_4_phases(n_phases):
    torch.manual_seed(0)
    fusion = PhaseFusion(n_phases, 4).eval()
    assert len(fusion.blocks) == n_phases - 1
    maps = torch.rand(2, n_phases, 4, 5, 5)
    out = fusion(maps, torch.ones(2, n_phases, dtype=torch.bool))
    assert out.shape == (2, 4, 5, 5)


def test_missing_delayed_phase_is_skipped():
    torch.manual_seed(0)
    fusion = PhaseFusion(4, 4).eval()
    maps = torch.rand(1, 4, 4, 5, 5)
    present = torch.tensor([[True, True, True, False]])
    other = maps.clone()
    other[:, 3] = torch.rand(1, 4, 5, 5) * 10  # whatever is in the absent slot is ignored
    assert torch.equal(fusion(maps, present), fusion(other, present))
    # and a 4-phase model gives a 3-phase case the same result as its first 3 fusion steps
    three = PhaseFusion(3, 4).eval()
    three.blocks.load_state_dict(torch.nn.ModuleList(list(fusion.blocks)[:2]).state_dict())
    assert torch.allclose(fusion(maps, present),
                          three(maps[:, :3], torch.ones(1, 3, dtype=torch.bool)))
    assert not torch.allclose(fusion(maps, present), fusion(maps, torch.ones(1, 4, dtype=bool)))


def test_iterative_model_with_clinical_head():
    torch.manual_seed(0)
    net = LesionNet("densenet_tiny", 2, 4, 1, 5, fusion="iterative", n_clinical=3).eval()
    x = torch.rand(2, 4, 32, 32)
    present = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert net(x, present, torch.rand(2, 3)).shape == (2, 5)
    with pytest.raises(ConfigError):
        net(x, present)


def test_local_weights(tmp_path):
    torch.manual_seed(0)
    source = LesionNet("densenet_tiny", 2, 1, 1, 2)
    torch.save(source.encoder.body.state_dict(), tmp_path / "w.pt")
    target = LesionNet("densenet_tiny", 2, 1, 1, 2)
    loaded = load_weights(target, tmp_path / "w.pt")
    assert loaded and all(k.startswith("encoder.body.") for k in loaded)
    x = torch.rand(1, 1, 32, 32)
    assert torch.allclose(source.eval().encoder(x), target.eval().encoder(x))
    with pytest.raises(InputFileError):
        load_weights(target, tmp_path / "missing.pt")
    torch.save({"unrelated": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(InputFileError):
        load_weights(target, tmp_path / "bad.pt")
