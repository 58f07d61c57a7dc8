"""Training of the multi-phase network: loss goes down, determinism, SAM, resume, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from livermets.deep.multiphase.config import make_settings
from livermets.deep.multiphase.train import (
    LesionDiceCELoss,
    PatchSampler,
    crop,
    load_multiphase_model,
    train_multiphase,
)
from livermets.errors import ConfigError, DataError, InputFileError
from tests.deep.multiphase.test_data import tiny_case

# the patch is the whole 16 x 32 x 32 case and the delayed phase is never dropped: every
# iteration sees the same batch, so the loss must go down
SETTINGS = make_settings(patch=(32, 32, 16), features=(4, 8, 16), stem_channels=4,
                         embedding_size=8, iterations=6, batch_size=2, lr=1e-2,
                         drop_delayed_prob=0.0, threads=1, checkpoint_every=2, memory_size=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 6-iteration run on a fixed batch."""
    return train_multiphase([tiny_case()], SETTINGS, tmp_path_factory.mktemp("run1"))


def test_loss_goes_down_on_a_fixed_batch(trained):
    losses = [h["loss"] for h in trained.history]
    assert len(losses) == 6 and [h["iteration"] for h in trained.history] == [1, 2, 3, 4, 5, 6]
    assert np.mean(losses[-2:]) < 0.9 * np.mean(losses[:2])
    assert all(h["lesions"] == 4 for h in trained.history)  # 2 lesions x 2 patches
    assert all(h["contrastive"] > 0 and h["focal"] > 0 for h in trained.history)
    assert trained.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine to zero


def test_same_seed_same_losses_and_resume_after_interruption(trained, tmp_path):
    def stop_at_3(iteration, total, record):
        if iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_multiphase([tiny_case()], SETTINGS, tmp_path, progress=stop_at_3)
    assert json.loads((tmp_path / "model.json").read_text())["iteration"] == 2
    resumed = train_multiphase([tiny_case()], SETTINGS, tmp_path)
    assert resumed.resumed_from == 2
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in trained.history]
    for key, value in trained.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_saved_model_reloads_with_settings_and_intensity(trained):
    model, settings, intensity = load_multiphase_model(trained.checkpoint.parent)
    assert settings == SETTINGS and intensity == tiny_case().intensity
    config = json.loads(trained.config.read_text())
    assert config["complete"] and config["iteration"] == 6
    assert config["classes"][0] == "hcc" and config["phases"][-1] == "delayed"
    x = torch.from_numpy(tiny_case().image)[None]
    present = torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(model(x, present).voxel_logits,
                                   trained.model(x, present).voxel_logits)
    again = train_multiphase([tiny_case()], SETTINGS, trained.checkpoint.parent)
    assert again.resumed_from == 6 and len(again.history) == 6  # complete: nothing to do


def test_sam_takes_one_step(tmp_path):
    settings = SETTINGS.model_copy(update={"use_sam": True, "iterations": 1})
    torch.manual_seed(settings.seed)
    from livermets.deep.multiphase.network import MultiPhaseSegNet

    initial = MultiPhaseSegNet(settings).state_dict()
    result = train_multiphase([tiny_case()], settings, tmp_path)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])
    changed = [k for k, v in result.model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, initial[k])]
    assert "voxel_head.conv.conv.weight" in changed and "lesion_classifier.weight" in changed


def test_patches_drop_the_delayed_phase_and_pad():
    case = tiny_case()
    settings = SETTINGS.model_copy(update={"drop_delayed_prob": 1.0, "patch": (32, 32, 32)})
    batch = PatchSampler([case], settings, np.random.default_rng(0)).batch()
    assert batch.x.shape == (2, 4, 32, 32, 32) and batch.labels.shape == (2, 1, 32, 32, 32)
    assert batch.present.tolist() == [[True, True, True, False]] * 2
    assert not batch.x[:, 3].any()
    assert batch.patient_targets[0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0]  # hcc, cyst
    assert batch.instance_classes[0] == {1: 0, 2: 5}
    array = np.arange(8).reshape(1, 2, 2, 2)
    out = crop(array, (-1, 0, 1), (2, 2, 2), fill=np.array([-5]))
    assert out[0, 0].tolist() == [[-5, -5], [-5, -5]]
    assert out[0, 1].tolist() == [[1, -5], [3, -5]]


def test_unusable_inputs_raise(tmp_path):
    unlabelled = tiny_case()
    unlabelled.labels = None
    with pytest.raises(DataError, match="t1 has no lesion or liver mask"):
        train_multiphase([unlabelled], SETTINGS, tmp_path)
    with pytest.raises(InputFileError, match=r"needs model\.json"):
        load_multiphase_model(tmp_path)
    train_multiphase([tiny_case()], SETTINGS.model_copy(update={"iterations": 1}), tmp_path)
    with pytest.raises(ConfigError, match="other settings"):
        train_multiphase([tiny_case()], SETTINGS, tmp_path)


def test_class_balanced_foreground_patches_and_flips():
    common = tiny_case("a", classes=("hcc", "cyst"))
    rare = tiny_case("b", seed=1, classes=("hcc", "fnh"))
    settings = SETTINGS.model_copy(update={"foreground_prob": 1.0, "batch_size": 1,
                                           "patch": (8, 8, 8), "features": (4, 8)})
    sampler = PatchSampler([common, common, common, rare], settings, np.random.default_rng(0))
    assert sorted(sampler.by_class) == [2, 4 + 2, 5 + 2]  # hcc, fnh, cyst
    centre_classes = []
    for _ in range(300):
        case, centre = sampler._pick()
        centre_classes.append(int(sampler.cases[case].labels[tuple(centre)]))
    counts = np.bincount(centre_classes, minlength=8)
    assert counts[[2, 6, 7]].sum() == 300 and counts[6] > 70  # fnh: 1 of 7 lesions, 1/3 of draws
    flipped = PatchSampler([common], settings.model_copy(update={"flip_prob": 1.0}),
                           np.random.default_rng(0))
    plain = PatchSampler([common], settings, np.random.default_rng(0))
    centre = np.array([8, 10, 12])
    a, b = flipped.sample(0, centre), plain.sample(0, centre)
    np.testing.assert_array_equal(a[0], b[0][:, ::-1, ::-1, ::-1])
    np.testing.assert_array_equal(a[2], b[2][::-1, ::-1, ::-1])
    np.testing.assert_array_equal(a[3], b[3][::-1, ::-1, ::-1])


def test_lesion_dice_ce_ignores_absent_classes_and_rewards_lesion_vs_rest():
    loss = LesionDiceCELoss(10)
    labels = torch.ones(1, 1, 4, 4, 4, dtype=torch.long)
    labels[..., :2, :2, :2] = 2 + 5  # a cyst
    perfect = torch.nn.functional.one_hot(labels[:, 0], 10).permute(0, 4, 1, 2, 3).float() * 20
    assert float(loss(perfect, labels)) < 1e-6
    wrong_class = perfect.clone()
    wrong_class[:, [2 + 5, 2 + 0]] = wrong_class[:, [2 + 0, 2 + 5]]  # cyst called hcc
    missed = perfect.clone()
    missed[:, 1] = missed[:, 1] + missed[:, 2 + 5]  # cyst called liver
    missed[:, 2 + 5] = 0
    # found but misnamed costs less than missed: the lesion-vs-rest term is still right
    assert 0 < float(loss(wrong_class, labels)) < float(loss(missed, labels))
    # a lesion class absent from the batch adds no Dice term: only the liver term and CE remain
    liver_only = torch.ones(1, 1, 4, 4, 4, dtype=torch.long)
    logits = torch.zeros(1, 10, 4, 4, 4)
    expected = (torch.nn.functional.cross_entropy(logits, liver_only[:, 0])
                + 1 - 2 * 0.9 * 64 / (0.9 * 64 + 64))
    torch.testing.assert_close(loss(logits, liver_only), expected, rtol=1e-4, atol=1e-4)


def test_models_of_another_format_or_layout_say_retrain(trained, tmp_path):
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(trained.checkpoint.parent, folder)
    config = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**config, "format": "livermets-multiphase/1"}))
    with pytest.raises(InputFileError, match=r"multiphase/1.*retrain it with"):
        load_multiphase_model(folder)
    wider = {**config, "settings": {**config["settings"], "stem_channels": 8}}
    (folder / "model.json").write_text(json.dumps(wider))
    with pytest.raises(InputFileError, match=r"do not fit its settings.*retrain the model"):
        load_multiphase_model(folder)
