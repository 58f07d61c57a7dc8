"""``livermets segment``: masks from a backend (``run``, the default), ``train`` the MONAI
segmenter, and ``qa`` of predicted against reference masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from livermets._outputs import check_output_folder
from livermets.cli._common import LivermetsGroup, console, print_json
from livermets.cli._progress import patient_progress, step_progress
from livermets.errors import ConfigError
from livermets.lesions.measure import DEFAULT_SIZE_EDGES, SIZE_EDGES_OPTION

BACKEND_HELP = "totalsegmentator | nnunet | monai | torchscript | bundle."


class SegmentGroup(LivermetsGroup):
    """The ``segment`` group: ``livermets segment COHORT.csv ...`` means ``segment run ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Route arguments that name no sub-command to ``run``."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _numbers(text: str | None, kind: type, option: str, count: int | None = None) -> tuple | None:
    if text is None or text.strip().lower() in ("", "auto"):
        return None
    try:
        values = tuple(kind(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"{option} '{text}' must be comma-separated numbers.") from exc
    if count is not None and len(values) != count:
        raise ConfigError(f"{option} '{text}' needs {count} values.")
    return values


# the run command's backend flags: option name -> (flag, default)
FLAGS: dict[str, tuple[str, Any]] = {
    "liver_task": ("--liver-task", "total"), "lesion_task": ("--lesion-task", "liver_lesions"),
    "fast": ("--fast", False), "device": ("--device", "cpu"),
    "license_key": ("--license-key", None), "weights_dir": ("--weights-dir", None),
    "download": ("--offline", True), "folds": ("--folds", None),
    "checkpoint": ("--checkpoint", "checkpoint_final.pth"), "labels": ("--labels", None),
    "channels": ("--channels", None), "threads": ("--threads", None),
}  # fmt: skip


def _backend_options(backend: str, flags: dict[str, Any]) -> dict[str, Any]:
    """The flags backend ``backend`` takes (left at their default: not passed); a flag given
    that it does not take is a ``ConfigError`` naming it."""
    from livermets.segment.backends import BACKENDS

    model = BACKENDS.get(backend).options
    fields = set(model.model_fields) if model is not None else set()
    options, foreign = {}, []
    for key, value in flags.items():
        flag, default = FLAGS[key]
        if value == default:
            continue
        if key in fields:
            options[key] = value
        else:
            foreign.append(flag)
    if foreign:
        takes = sorted(FLAGS[k][0] for k in fields if k in FLAGS)
        raise ConfigError(
            f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} not an option of the "
            f"{backend} backend (its options: {', '.join(takes) or 'none'})."
        )
    return options


def run(
    manifest: Path = typer.Argument(..., help="Cohort manifest CSV."),
    backend: str = typer.Option(..., "--backend", "-b", help=BACKEND_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder (masks + manifest.csv)."),
    model: Path | None = typer.Option(
        None, "--model", help="monai: folder from `segment train`; nnunet: trained model folder; "
        "torchscript: a TorchScript file; bundle: a MONAI bundle folder."
    ),
    liver_task: str = typer.Option(
        "total", "--liver-task", help="totalsegmentator: total | total_mr | none."
    ),
    lesion_task: str = typer.Option(
        "liver_lesions",
        "--lesion-task",
        help="totalsegmentator: liver_lesions | liver_lesions_mr | liver_vessels | none.",
    ),
    fast: bool = typer.Option(False, "--fast", help="totalsegmentator: 3 mm liver model."),
    device: str = typer.Option("cpu", "--device", help="cpu | gpu | gpu:N | mps."),
    license_key: str | None = typer.Option(
        None, "--license-key", help="totalsegmentator: licence number for licensed tasks."
    ),
    weights_dir: Path | None = typer.Option(
        None, "--weights-dir", help="totalsegmentator: folder of unzipped weights (offline)."
    ),
    offline: bool = typer.Option(
        False, "--offline", help="totalsegmentator: never try to download weights."
    ),
    folds: str | None = typer.Option(None, "--folds", help="nnunet: folds, e.g. 0,1,2 or all."),
    checkpoint: str = typer.Option("checkpoint_final.pth", "--checkpoint", help="nnunet."),
    labels: str | None = typer.Option(
        None, "--labels", help="nnunet, torchscript, bundle: model labels per region, e.g. "
        "'liver=1,2;lesions=2'."
    ),
    channels: str | None = typer.Option(
        None, "--channels", help="nnunet, torchscript, bundle: manifest image columns, one per "
        "model input channel."
    ),
    assignments: list[str] | None = typer.Option(
        None, "--set", help="torchscript, bundle: a network setting KEY=VALUE (repeatable): "
        "spacing=1,1,2.5 orientation=RAS axes=xyz intensity_range=-100,240 scale_to=0,1 "
        "zscore=true roi=96,96,96 overlap=0.25 output=logits|labels "
        "(`livermets docs segmentation`)."
    ),
    min_lesion_ml: float = typer.Option(
        0.02, "--min-lesion-ml", help="Remove lesion components smaller than this (ml)."
    ),
    min_inside: float = typer.Option(
        0.5, "--min-inside", help="Keep a lesion when at least this fraction is in the liver."
    ),
    patients: str | None = typer.Option(None, "--patients", help="Only these patient IDs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo finished patients."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    dicom_seg: bool = typer.Option(
        False,
        "--dicom-seg",
        help="Also write masks/<patient>/<patient>_seg.dcm, a DICOM-SEG (liver, lesion classes) "
        "referencing the image series; every image must be DICOM.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Segment the liver and lesions of every patient; write masks and an updated manifest."""
    from livermets.cohort import load_manifest
    from livermets.segment import (
        PostprocessSettings,
        RunSettings,
        make_backend,
        parse_label_selection,
        run_segmentation,
    )

    check_output_folder(out)
    fold_values: tuple | None = None
    if folds:
        parts = [f.strip() for f in folds.split(",") if f.strip()]
        if not all(f.isdigit() or f == "all" for f in parts):
            raise ConfigError(f"--folds '{folds}' must be fold numbers such as 0,1,2 or 'all'.")
        fold_values = tuple(f if f == "all" else int(f) for f in parts)
    if assignments and backend not in ("torchscript", "bundle"):
        raise ConfigError("--set is for the torchscript and bundle backends.")
    flags = {
        "liver_task": liver_task, "lesion_task": lesion_task, "fast": fast, "device": device,
        "license_key": license_key, "weights_dir": weights_dir, "download": not offline,
        "folds": fold_values, "checkpoint": checkpoint,
        "labels": parse_label_selection(labels) or None,
        "channels": tuple(c.strip() for c in channels.split(",")) if channels else None,
        "threads": threads,
    }  # fmt: skip
    options = _backend_options(backend, flags)
    if assignments:
        from livermets.segment.backends.network import parse_assignments

        options.update(parse_assignments(assignments))
    engine = make_backend(backend, model=model, **options)
    settings = RunSettings(
        postprocess=PostprocessSettings(min_lesion_ml=min_lesion_ml, min_inside=min_inside),
        overwrite=overwrite,
        patients=tuple(p.strip() for p in patients.split(",")) if patients else None,
        dicom_seg=dicom_seg,
    )
    cohort = load_manifest(manifest)
    n = len(settings.patients) if settings.patients else len(cohort.table)
    with patient_progress(n, f"segmenting ({backend})") as advance:
        result = run_segmentation(cohort, engine, out, settings, progress=advance)
    summary = {
        "backend": backend,
        "n_patients": len(result.summary),
        "segmented": result.n_segmented,
        "resumed": result.n_resumed,
        "n_lesions": int(result.summary["n_lesions"].sum()),
        "dicom_seg": result.n_dicom_seg,
        "manifest": str(result.manifest),
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"{summary['segmented']} patient(s) segmented, {summary['resumed']} resumed, "
            f"{summary['n_lesions']} lesions -> {result.manifest}"
            + (f" ({summary['dicom_seg']} DICOM-SEG files)" if dicom_seg else "")
        )


def train(
    manifest: Path = typer.Argument(..., help="Annotated cohort manifest CSV."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (model.pt, model.json)."),
    network: str = typer.Option("dynunet", "--network", help="dynunet | unet."),
    patch: str = typer.Option("96,96,32", "--patch", help="Patch size x,y,z (voxels)."),
    spacing: str = typer.Option("auto", "--spacing", help="Grid spacing x,y,z mm, or auto."),
    filters: str = typer.Option("16,32,64,128,256", "--filters", help="Widths per level."),
    iterations: int = typer.Option(2000, "--iterations", help="Training iterations."),
    batch_size: int = typer.Option(2, "--batch-size", help="Patches per iteration."),
    learning_rate: float = typer.Option(2e-3, "--learning-rate", help="AdamW learning rate."),
    lesion_classes: str = typer.Option(
        "single", "--lesion-classes", help="single | labels (one class per lesion class)."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Train on rows of these splits (e.g. train); default all rows."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    resample_masks: bool = typer.Option(
        False, "--resample-masks", help="Resample masks off the image grid (nearest neighbour)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Train livermets' MONAI segmenter (liver + lesions) on an annotated cohort."""
    from livermets.cohort import load_manifest
    from livermets.segment.monai_model import SegmenterSettings, train_segmenter

    check_output_folder(out)
    settings = SegmenterSettings(
        network=network,
        patch_size=_numbers(patch, int, "--patch", 3)[::-1],  # type: ignore[index]  # x,y,z -> z,y,x
        spacing=_numbers(spacing, float, "--spacing", 3),  # type: ignore[arg-type]
        filters=_numbers(filters, int, "--filters"),  # type: ignore[arg-type]
        iterations=iterations,
        batch_size=batch_size,
        learning_rate=learning_rate,
        lesion_classes=lesion_classes,
        seed=seed,
        threads=threads,
    )
    cohort = load_manifest(manifest)
    splits = tuple(s.strip() for s in split.split(",")) if split else None
    with step_progress(iterations, "training") as update:

        def advance(iteration: int, loss: float) -> None:
            update(iteration, iterations, {"loss": loss})

        model = train_segmenter(
            cohort, settings, splits=splits, resample_masks=resample_masks, progress=advance
        )
    model.save(out)
    losses = model.history["loss"]
    summary = {
        "model": str(out),
        "classes": model.classes,
        "spacing": list(model.spacing),
        "patients": len(model.history["patients"]),
        "iterations": len(losses),
        "final_loss": float(sum(losses[-20:]) / len(losses[-20:])),
        "seconds": model.history["seconds"],
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"trained {settings.network} on {summary['patients']} patients, "
            f"{summary['iterations']} iterations (final loss {summary['final_loss']:.3f}) -> {out}"
        )


def qa(
    reference: Path = typer.Option(..., "--reference", help="Reference cohort manifest CSV."),
    predicted: Path = typer.Option(
        ..., "--predicted", help="`segment` output folder, or a manifest CSV of predicted masks."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for the QA tables (and report)."),
    match_metric: str = typer.Option("dice", "--match-metric", help="dice | iou."),
    match_threshold: float = typer.Option(
        0.1, "--match-threshold", help="A lesion is detected when the overlap exceeds this."
    ),
    reference_labels: str | None = typer.Option(
        None, "--reference-labels", help="Label values per structure, e.g. 'liver=5'."
    ),
    predicted_labels: str | None = typer.Option(
        None, "--predicted-labels", help="Label values per structure, e.g. 'liver=1'."
    ),
    size_edges: str = typer.Option(SIZE_EDGES_OPTION, "--size-edges",
                                   help="Size-group edges (mm)."),
    no_resample: bool = typer.Option(
        False, "--no-resample", help="Refuse predicted masks off the reference grid."
    ),
    report: bool = typer.Option(False, "--report", help="Also write OUT/report.html."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Dice, HD95, ASD per structure and lesion-wise detection by size group."""
    from livermets.cohort import load_manifest
    from livermets.segment import MatchSettings, QASettings, load_predicted, run_qa
    from livermets.segment.qa import parse_label_selection

    check_output_folder(out)
    edges = _numbers(size_edges, float, "--size-edges")
    settings = QASettings(
        match=MatchSettings(match_metric, match_threshold, size_edges=edges or DEFAULT_SIZE_EDGES),
        reference_labels=parse_label_selection(reference_labels),
        predicted_labels=parse_label_selection(predicted_labels),
        resample=not no_resample,
    )
    ref = load_manifest(reference)
    pred = load_predicted(predicted)
    with patient_progress(len(ref.table), "segmentation QA") as advance:
        result = run_qa(ref, pred, settings, progress=advance)
    result.write(out)
    if report:
        from livermets.report import Report
        from livermets.report.segmentation import add_segmentation_sections

        doc = Report("Segmentation quality")
        add_segmentation_sections(doc, result, out)
        doc.write(out / "report.html")
    if as_json:
        print_json(result.to_dict())
        return
    from rich.table import Table

    table = Table(title="Segmentation QA")
    for col in ("structure", "patients", "Dice mean", "Dice median", "HD95 median", "ASD median"):
        table.add_column(col)
    for r in result.structure_summary.to_dict(orient="records"):
        table.add_row(
            r["structure"], str(r["n_patients"]), f"{r['dice_mean']:.3f}",
            f"{r['dice_median']:.3f}", f"{r['hd95_median_mm']:.2f}", f"{r['asd_median_mm']:.2f}",
        )  # fmt: skip
    console.print(table)
    if not result.detection.empty:
        det = Table(title=f"Lesion detection ({match_metric} > {match_threshold:g})")
        for col in ("size group", "lesions", "sensitivity (95% CI)", "FP/patient", "lesion Dice"):
            det.add_column(col)
        for r in result.detection.to_dict(orient="records"):
            det.add_row(
                r["size_group"], str(r["n_lesions"]),
                f"{r['sensitivity']:.2f} ({r['sensitivity_ci_low']:.2f}-"
                f"{r['sensitivity_ci_high']:.2f})",
                f"{r['fp_per_patient']:.2f}", f"{r['lesion_dice_mean']:.3f}",
            )  # fmt: skip
        console.print(det)
    console.print(f"tables -> {out}")


def register(app: typer.Typer) -> None:
    """Add the ``segment`` group (run as default command, train, qa) to the livermets app."""
    group = typer.Typer(
        cls=SegmentGroup,
        help="Liver and lesion masks from TotalSegmentator, nnU-Net or livermets' MONAI model, "
        "and their QA. `livermets segment COHORT.csv --backend B --out DIR` runs `segment run`.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode="rich",
    )
    group.command("run")(run)
    group.command("train")(train)
    group.command("qa")(qa)
    app.add_typer(group, name="segment")
