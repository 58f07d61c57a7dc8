"""`livermets deep predict|embed|multiphase`: thin wrappers over livermets.deep (lazy torch)."""

from __future__ import annotations

from pathlib import Path

import typer

from livermets._outputs import check_output_file
from livermets.cli._common import console, new_app, print_json


def predict(
    model_dir: Path = typer.Argument(
        ..., help="A deep model folder DIR/models/NAME, or your own classifier: a TorchScript "
        "file, a folder with classifier.json, or a MONAI bundle folder."),
    manifest: Path = typer.Argument(..., help="Cohort manifest (CSV) of the new patients."),
    out: Path = typer.Option(..., "--out", help="Lesion predictions (.parquet or .csv)."),
    crop: str | None = typer.Option(
        None, "--crop", help="Own classifier: crop size, 64 (2D) or 32,64,64 (3D: D,H,W)."),
    spacing: str | None = typer.Option(
        None, "--spacing", help="Own classifier: crop voxel spacing x,y,z mm (default: the "
        "crop spans the lesion plus a margin)."),
    window: str | None = typer.Option(
        None, "--window", help="Own classifier: seed | abdomen | liver | none | LEVEL,WIDTH."),
    output: str | None = typer.Option(
        None, "--output", help="Own classifier: logit | probability | logits | probabilities."),
    classes: str | None = typer.Option(
        None, "--classes", help="Own classifier: class names, negative first (e.g. "
        "hemangioma,metastasis)."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Own binary classifier: y_pred cut-off (default 0.5)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Apply a frozen deep model, or your own classifier, to a cohort: lesion and patient
    predictions."""
    from livermets.deep.byon import overrides
    from livermets.deep.study import predict_deep

    check_output_file(out)
    options = overrides(crop, spacing, window, output, classes, threshold)
    summary = predict_deep(model_dir, manifest, out, options=options)
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {summary['out']} ({summary['rows']} lesions) and "
                      f"{summary['patients_out']}", highlight=False)


def embed(
    model_dir: Path = typer.Argument(..., help="A deep model folder: DIR/models/NAME."),
    manifest: Path = typer.Argument(..., help="Cohort manifest (CSV)."),
    out: Path = typer.Option(..., "--out", help="Feature table (.parquet or .csv)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export the penultimate-layer embedding of every lesion as a feature table."""
    from livermets.deep.study import export_embeddings

    check_output_file(out)
    summary = export_embeddings(model_dir, manifest, out)
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {summary['out']} ({summary['rows']} lesions, "
                      f"{summary['features']} features)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``deep`` group (predict, embed, multiphase) to ``app``."""
    from livermets.cli import multiphase

    deep_app = new_app("Deep models: apply a frozen lesion CNN, export its embeddings; the "
                       "multi-phase lesion segmenter and classifier.")
    deep_app.command("predict")(predict)
    deep_app.command("embed")(embed)
    multiphase.register(deep_app)
    app.add_typer(deep_app, name="deep")
