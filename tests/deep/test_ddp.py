"""DistributedDataParallel with the gloo backend: 2 CPU processes stay in sync."""

from __future__ import annotations

import json

import numpy as np
import torch

from livermets.deep.config import DeepModelSpec
from livermets.deep.crops import save_crops


def test_ddp_two_processes_gloo(crops_2d, tmp_path):
    from livermets.deep.ddp import spawn_cpu

    sub = crops_2d.subset(np.arange(0, len(crops_2d), 4))
    path = save_crops(sub, tmp_path / "crops.npz")
    spec = DeepModelSpec(name="ddp", crops=sub.settings.model_dump(),
                         network={"backbone": "densenet_tiny"},
                         train={"epochs": 2, "batch_size": 8, "threads": 1})
    spawn_cpu(path, spec, tmp_path / "out", world=2, seed=0)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["world_size"] == 2 and len(summary["history"]) == 2
    w0 = torch.load(tmp_path / "out" / "weights-rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "out" / "weights-rank1.pt", weights_only=True)
    for name, value in w0.items():
        if name.endswith("num_batches_tracked"):
            continue
        assert torch.allclose(value, w1[name]), name
    from livermets.deep.networks import LesionNet

    torch.manual_seed(0)
    fresh = LesionNet("densenet_tiny", 2, 1, 1, 2).state_dict()
    assert not torch.allclose(fresh["head.weight"], w0["head.weight"])
