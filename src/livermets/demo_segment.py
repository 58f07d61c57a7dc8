"""The demo's optional segmentation step: train the MONAI segmenter on centre A, segment
centre B, and compare the automatic masks with the synthetic truth (``report.segmentation``
draws the QA section)."""

from __future__ import annotations

from pathlib import Path

from livermets._atomic import write_table
from livermets.cohort import Manifest, load_manifest
from livermets.segment import SegmentationQA, make_backend, run_qa, run_segmentation

TRAIN_CENTRE = "A"
ITERATIONS = 1000  # a short CPU training: the pipeline, not a good model


def _split_manifest(manifest: Manifest, out: Path) -> tuple[Path, Path]:
    """Manifests (absolute paths) of the training centre and of the other centre(s)."""
    table = manifest.table.copy()
    for column in [*manifest.image_columns, *manifest.mask_columns, "lesion_labels"]:
        if column in table.columns:
            table[column] = [
                str(p) if (p := manifest.resolve(v)) is not None else "" for v in table[column]
            ]
    is_train = table["center"].astype(str) == TRAIN_CENTRE
    table["split"] = ["train" if t else "external" for t in is_train]
    train = write_table(table[is_train], out / "train_manifest.csv")
    test = write_table(table[~is_train], out / "external_manifest.csv")
    return train, test


def run_demo_segmentation(
    manifest: Manifest, out: str | Path, seed: int = 0, iterations: int = ITERATIONS
) -> SegmentationQA:
    """Train on centre A, segment the other centre and return the QA against the truth masks
    (``report.segmentation.add_demo_segmentation_sections`` draws it)."""
    from livermets.segment.monai_model import SegmenterSettings, train_segmenter

    out = Path(out)
    train_path, external_path = _split_manifest(manifest, out)
    settings = SegmenterSettings(
        network="unet",
        patch_size=(16, 64, 64),
        spacing=(2.0, 2.0, 5.0),
        filters=(8, 16, 32, 64),
        iterations=iterations,
        batch_size=2,
        seed=seed,
        threads=1,
    )
    model = train_segmenter(load_manifest(train_path), settings)
    model_dir = model.save(out / "model")
    external = load_manifest(external_path)
    backend = make_backend("monai", model=model_dir, threads=1)
    result = run_segmentation(external, backend, out / "predicted")
    qa = run_qa(external, load_manifest(result.manifest))
    qa.write(out / "qa")
    return qa
