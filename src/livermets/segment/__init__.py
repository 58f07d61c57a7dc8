"""Segmentation: masks from TotalSegmentator, an nnU-Net v2 model folder or livermets' own MONAI
segmenter (``monai_model``, imported lazily because it needs torch), post-processing, and QA."""

from livermets.segment.backends import Backend, RawSegmentation, make_backend
from livermets.segment.matching import LesionMatch, MatchSettings, match_lesions
from livermets.segment.metrics import (
    OverlapMetrics,
    dice,
    directed_surface_distances,
    iou,
    overlap_metrics,
    surface,
    surface_metrics,
)
from livermets.segment.postprocess import CleanMasks, PostprocessSettings, postprocess
from livermets.segment.qa import (
    QASettings,
    SegmentationQA,
    load_predicted,
    parse_label_selection,
    run_qa,
)
from livermets.segment.runner import RunResult, RunSettings, run_segmentation

__all__ = [
    "Backend",
    "CleanMasks",
    "LesionMatch",
    "MatchSettings",
    "OverlapMetrics",
    "PostprocessSettings",
    "QASettings",
    "RawSegmentation",
    "RunResult",
    "RunSettings",
    "SegmentationQA",
    "dice",
    "directed_surface_distances",
    "iou",
    "load_predicted",
    "make_backend",
    "match_lesions",
    "overlap_metrics",
    "parse_label_selection",
    "postprocess",
    "run_qa",
    "run_segmentation",
    "surface",
    "surface_metrics",
]
