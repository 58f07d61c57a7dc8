"""Tiny deterministic networks for the bring-your-own-network tests (importable by a bundle's
``network_def``); each output is a known function of its input, so expected results are exact."""

from __future__ import annotations

import torch


class ThresholdSegmenter(torch.nn.Module):
    """Per-class logits from intensity: lesion where lesion_low <= v < liver_low, liver where
    liver_low <= v <= liver_high, else background (the thresholds are the weights)."""

    def __init__(self, lesion_low: float = 0.0, liver_low: float = 80.0,
                 liver_high: float = 200.0) -> None:
        super().__init__()
        self.thresholds = torch.nn.Parameter(torch.tensor([lesion_low, liver_low, liver_high]),
                                             requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, :1]
        lesion_low, liver_low, liver_high = self.thresholds[0], self.thresholds[1], \
            self.thresholds[2]
        liver = ((v >= liver_low) & (v <= liver_high)).float()
        lesion = ((v >= lesion_low) & (v < liver_low)).float()
        return torch.cat([torch.full_like(v, 0.5), liver, 2.0 * lesion], dim=1)


class LabelMapSegmenter(torch.nn.Module):
    """The same rule, returned as one channel holding the label map (0, 1, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = ThresholdSegmenter()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).argmax(dim=1, keepdim=True).float()


class HalfResolution(torch.nn.Module):
    """A wrong segmentation network: its output has half the input's spatial size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool3d(torch.cat([x, x, x], dim=1), 2)


class MeanLogit(torch.nn.Module):
    """A lesion classifier: logit = slope * (mean intensity of the crop) + offset."""

    def __init__(self, slope: float = 6.0, offset: float = -2.0) -> None:
        super().__init__()
        self.slope = slope
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.slope * x.flatten(1).mean(dim=1, keepdim=True) + self.offset


class MeanTwoClass(torch.nn.Module):
    """Two-class logits [0, slope * mean + offset]: softmax gives the MeanLogit sigmoid."""

    def __init__(self, slope: float = 6.0, offset: float = -2.0) -> None:
        super().__init__()
        self.slope = slope
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = self.slope * x.flatten(1).mean(dim=1, keepdim=True) + self.offset
        return torch.cat([torch.zeros_like(logit), logit], dim=1)


class ThreeOutputs(torch.nn.Module):
    """A classifier with three outputs per crop (wrong for output=logit)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(dim=1, keepdim=True)
        return torch.cat([m, m, m], dim=1)


def save_script(module: torch.nn.Module, path) -> None:
    """``torch.jit.save(torch.jit.script(module), path)``."""
    torch.jit.save(torch.jit.script(module.eval()), str(path))
