"""The multi-phase network: phase fusion with a missing delayed phase, lesion-head pooling,
settings validation."""

from __future__ import annotations

import pytest
import torch

from livermets.deep.multiphase.config import make_settings
from livermets.deep.multiphase.network import (
    LESION_PRIOR,
    MultiPhaseSegNet,
    instance_means,
    voxel_prior_bias,
)
from livermets.errors import ConfigError

SETTINGS = make_settings(patch=(16, 16, 8), features=(4, 8), stem_channels=4, embedding_size=4)
FOUR = torch.tensor([[True, True, True, True]])
THREE = torch.tensor([[True, True, True, False]])


@pytest.fixture(scope="module")
def net():
    """A tiny seeded network in eval mode."""
    torch.manual_seed(0)
    return MultiPhaseSegNet(SETTINGS).eval()


@pytest.mark.parametrize("train", [False, True])
def test_missing_delayed_phase_same_shape_other_output_ignores_channel(net, train):
    torch.manual_seed(1)
    x = torch.randn(1, 4, 8, 16, 16)
    net.train(train)
    try:
        with torch.no_grad():
            full, missing = net(x, FOUR), net(x, THREE)
            noisy = x.clone()
            noisy[:, 3] = torch.randn(8, 16, 16) * 100
            missing_noisy = net(noisy, THREE)
    finally:
        net.eval()
    for a, b in zip(full, missing, strict=True):
        assert a.shape == b.shape
    assert full.voxel_logits.shape == (1, 2 + 8, 8, 16, 16)
    assert full.features.shape == (1, 4, 8, 16, 16) and full.patient_logits.shape == (1, 8)
    assert (full.voxel_logits - missing.voxel_logits).abs().max() > 1e-3
    for a, b in zip(missing, missing_noisy, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_any_volume_shape_and_patient_head_consistent(net):
    x = torch.randn(2, 4, 7, 13, 10)
    present = torch.cat([FOUR, THREE])
    with torch.no_grad():
        out = net(x, present)
        alone = net.patient_logits(x, present)
    assert out.voxel_logits.shape == (2, 10, 7, 13, 10)
    torch.testing.assert_close(out.patient_logits, alone)


def test_instance_means_are_hand_computed_masked_means():
    features = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                             [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]]).reshape(1, 2, 1, 2, 3)
    features = torch.cat([features, -features])  # batch of 2
    instances = torch.tensor([[[[0, 4, 4], [2, 0, 4]]], [[[0, 0, 0], [0, 0, 7]]]])
    pooled, index = instance_means(features, instances)
    # batch 0: id 2 = voxel 3 -> (4, 40); id 4 = voxels 1, 2, 5 -> ((2+3+6)/3, (20+30+60)/3)
    # batch 1: id 7 = voxel 5 -> (-6, -60)
    expected = torch.tensor([[4.0, 40.0], [11 / 3, 110 / 3], [-6.0, -60.0]])
    torch.testing.assert_close(pooled, expected)
    assert index.tolist() == [[0, 2], [0, 4], [1, 7]]


def test_lesion_head_projects_the_pooled_features_and_phase_intensities(net):
    features = torch.randn(1, 4, 2, 3, 3)
    image = torch.zeros(1, 4, 2, 3, 3)
    image[0, 1, 0, 0, 0] = 4.0  # arterial: one of the lesion's 4 voxels -> mean 1
    image[0, 3] = -2.0  # delayed: -2 everywhere -> mean -2
    instances = torch.zeros(1, 2, 3, 3, dtype=torch.long)
    instances[0, 0, :2, :2] = 5
    with torch.no_grad():
        out = net.lesion_head(features, instances, image)
        mean = features[0, :, 0, :2, :2].reshape(4, -1).mean(1)[None]
        z = net.projection(torch.cat([mean, torch.tensor([[0.0, 1.0, 0.0, -2.0]])], dim=1))
    assert net.projection[0].in_features == 4 + 4  # decoder features + one mean per phase
    torch.testing.assert_close(out.logits, net.lesion_classifier(z))
    torch.testing.assert_close(out.embeddings.norm(dim=1), torch.ones(1))
    assert out.index.tolist() == [[0, 5]]
    empty = net.lesion_head(features, torch.zeros_like(instances), image)
    assert empty.logits.shape == (0, 8) and empty.embeddings.shape == (0, 4)
    with pytest.raises(ValueError, match="input intensities"):
        net.lesion_head(features, instances)


def test_lesion_head_without_intensities_pools_features_only():
    torch.manual_seed(0)
    plain = MultiPhaseSegNet(make_settings(SETTINGS.model_dump(), lesion_intensity=False)).eval()
    features = torch.randn(1, 4, 2, 3, 3)
    instances = torch.zeros(1, 2, 3, 3, dtype=torch.long)
    instances[0, 1, 1:, 1:] = 2
    with torch.no_grad():
        out = plain.lesion_head(features, instances)
        z = plain.projection(features[0, :, 1, 1:, 1:].reshape(4, -1).mean(1)[None])
    assert plain.projection[0].in_features == 4
    torch.testing.assert_close(out.logits, plain.lesion_classifier(z))


@pytest.mark.parametrize(("change", "message"), [
    ({"phases": ("arterial", "nc", "venous")}, "temporal order"),
    ({"phases": ("nc", "arterial", "delayed")}, "venous"),
    ({"classes": ("hcc", "hcc")}, "unique"),
    ({"classes": ()}, "non-empty"),
    ({"patch": (16, 16, 5)}, "multiple of 2"),
    ({"other_classes": ("weird",)}, "weird"),
    ({"learning_rate": 0.1}, "Allowed keys"),
])
def test_invalid_settings_raise_config_error(change, message):
    with pytest.raises(ConfigError, match=message):
        make_settings(SETTINGS.model_dump(), **change)


def test_voxel_head_starts_from_a_rare_lesion_prior(net):
    prior = torch.softmax(voxel_prior_bias(8), dim=0)
    torch.testing.assert_close(prior[2:].sum(), torch.tensor(LESION_PRIOR))
    torch.testing.assert_close(prior[0], prior[1])
    torch.testing.assert_close(net.voxel_head.conv.conv.bias, voxel_prior_bias(8))
    with torch.no_grad():  # untrained: lesions far less likely than the 0.8 of zero biases
        probs = torch.softmax(net(torch.randn(1, 4, 8, 16, 16), FOUR).voxel_logits, dim=1)
    assert float(probs[:, 2:].sum(1).mean()) < 0.2
