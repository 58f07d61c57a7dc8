"""Deep models inside a study: same folds and predictions table as the classical models, a frozen
deep model folder, and prediction with it on a new cohort manifest."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from livermets import __version__
from livermets._atomic import atomic_path, write_table, write_text
from livermets._cache import dump_cached, load_cached
from livermets._code import code_fingerprint
from livermets._hashing import file_sha256
from livermets.deep.aggregate import lesion_probabilities, patient_probabilities
from livermets.deep.config import DeepModelSpec
from livermets.deep.crops import CropSet, build_crops
from livermets.deep.train import (
    Numerics,
    TrainResult,
    build_model,
    embed_crops,
    predict_crops,
    train_lesion_model,
)
from livermets.errors import ConfigError, DataError, InputFileError
from livermets.models.frozen import package_versions
from livermets.models.validation import FeatureData, Fold, FoldOutcome, derive_seed
from livermets.models.validation import youden_threshold as _youden

WEIGHTS = "model.pt"
CARD = "card.json"


def lesion_crops(manifest_path: str | Path, spec: DeepModelSpec, cache: Path | None) -> CropSet:
    """Crops of every lesion of a manifest (lesions measured with the default settings), or of
    the primary tumour / liver (``crops.region``): that mask's components stand in for lesions."""
    from livermets.cohort import load_manifest
    from livermets.lesions import LesionSettings, build_lesion_tables

    manifest = region_manifest(load_manifest(manifest_path), spec.crops.region)
    lesions, _ = build_lesion_tables(manifest, LesionSettings())
    if lesions.empty:
        raise DataError(f"the {spec.crops.region} masks of {manifest_path} hold no region of 5 mm "
                        "or more: there is nothing to crop.")
    return build_crops(manifest, lesions, spec.crops, cache)


def region_manifest(manifest: Any, region: str) -> Any:
    """``manifest`` with ``<region>_mask`` read as the lesion mask (no lesion classes), so the
    lesion machinery measures and crops the primary tumour or the liver; as is for lesions."""
    from livermets.cohort.manifest import Manifest

    if region == "lesion":
        return manifest
    column = f"{region}_mask"
    table = manifest.table
    if column not in table.columns or table[column].isna().all():
        raise ConfigError(f"crops.region: {region} needs a {column} column in {manifest.path} "
                          f"(mask columns: {manifest.mask_columns}).")
    drop = [c for c in ("lesion_mask", "lesion_labels", "lesion_mask_label") if c in table]
    view = table.drop(columns=drop).rename(columns={column: "lesion_mask"})
    return Manifest(manifest.path, view)


def _row_index(crops: CropSet, data: FeatureData) -> np.ndarray:
    """For every crop, the study row of its lesion (or patient) (-1 when not a study row)."""
    pids = crops.meta["patient_id"].astype(str).to_numpy()
    if data.lesion_id is None:
        lookup = {p: k for k, p in enumerate(data.patient_id.astype(str))}
        return np.array([lookup.get(p, -1) for p in pids])
    lookup = {(p, str(lesion)): k for k, (p, lesion) in
              enumerate(zip(data.patient_id.astype(str), data.lesion_id, strict=True))}
    lids = crops.meta["lesion_id"].astype(str).to_numpy()
    return np.array([lookup.get((p, lesion), -1) for p, lesion in zip(pids, lids, strict=True)])


def _row_probabilities(crops: CropSet, prob: np.ndarray, data: FeatureData, wanted: np.ndarray,
                       how: str) -> np.ndarray:
    """Crop probabilities aggregated to the study rows ``wanted`` (slice -> lesion -> patient)."""
    keys, lesion_prob = lesion_probabilities(crops.meta, prob, how)  # type: ignore[arg-type]
    if data.lesion_id is None:
        keys, lesion_prob = patient_probabilities(keys, lesion_prob, "max")
        index = {p: k for k, p in enumerate(keys["patient_id"])}
        order = [index.get(str(p), -1) for p in data.patient_id[wanted]]
    else:
        index = {(p, lesion): k for k, (p, lesion) in
                 enumerate(zip(keys["patient_id"], keys["lesion_id"], strict=True))}
        order = [index.get((str(p), str(lesion)), -1) for p, lesion in
                 zip(data.patient_id[wanted], data.lesion_id[wanted], strict=True)]
    if min(order, default=0) < 0:
        raise DataError("some study rows have no lesion crop; check the lesion masks.")
    return lesion_prob[np.asarray(order, dtype=int)]


def _clinical(spec: DeepModelSpec, data: FeatureData, rows: np.ndarray) -> np.ndarray | None:
    """Per-crop clinical vector (from the study's encoded clinical columns) or None."""
    if spec.inputs != "image+clinical":
        return None
    if not data.clinical_columns:
        raise ConfigError(
            f"deep model {spec.name!r} has inputs image+clinical but data.clinical is empty; "
            "list the clinical variables under data.clinical."
        )
    return data.X[data.clinical_columns].to_numpy(dtype=np.float32)[rows]


def fit_rows(spec: DeepModelSpec, crops: CropSet, rows: np.ndarray, data: FeatureData,
             train: np.ndarray, seed: int, checkpoint: Path | None) -> tuple[TrainResult, float]:
    """Train on the crops of study rows ``train``; the result and its Youden threshold."""
    mask = np.isin(rows, train)
    sub = crops.subset(np.flatnonzero(mask))
    y = data.y[rows[mask]]
    result = train_lesion_model(sub, y, list(data.classes), spec, seed,
                                _clinical(spec, data, rows[mask]), checkpoint)
    threshold = float("nan")
    if data.binary:
        keys, lp = lesion_probabilities(sub.meta.iloc[result.val_rows], result.val_prob,
                                        spec.lesion_aggregation)
        lookup = dict(zip(zip(sub.meta["patient_id"], sub.meta["lesion_id"], strict=True), y,
                          strict=True))
        ly = np.array([lookup[k] for k in zip(keys["patient_id"], keys["lesion_id"],
                                              strict=True)])
        cut = _youden(ly, lp[:, 1])
        # an infinite Youden cut ("call nothing positive") is kept inside the probability range
        threshold = float("nan") if cut is None else float(np.clip(cut, 0.0, 1.0))
    return result, threshold


def _test_crops(spec: DeepModelSpec, result: TrainResult, crops: CropSet, rows: np.ndarray,
                data: FeatureData, test: np.ndarray
                ) -> tuple[CropSet, np.ndarray, np.ndarray | None, np.ndarray]:
    """The crops of study rows ``test``, their study rows, clinical vectors (standardised with
    the training rows' mean / SD) and predicted probabilities."""
    mask = np.isin(rows, test)
    sub = crops.subset(np.flatnonzero(mask))
    clin = _clinical(spec, data, rows[mask])
    if clin is not None:
        clin = np.nan_to_num((clin - result.clinical_mean) / result.clinical_std).astype(
            np.float32)
    prob = predict_crops(result.model, sub, clin, numerics=result.numerics)
    return sub, rows[mask], clin, prob


@dataclass
class FoldExtras:
    """What one deep fold leaves besides its predictions.

    ``trained_on``: the patients whose crops trained the fold's CNN (its inner validation
    included); ``rows`` / ``embedding``: the fold's training and test study rows and their
    penultimate-layer embeddings from that CNN (None without ``embeddings_for``); ``picks``: the
    Grad-CAM gallery candidates among the fold's test lesions.
    """

    fold: Fold
    trained_on: np.ndarray
    rows: np.ndarray
    embedding: np.ndarray | None
    picks: pd.DataFrame


def fold_embeddings(result: TrainResult, crops: CropSet, rows: np.ndarray, fold: Fold,
                    trained_on: np.ndarray, patient_id: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the fold's training and test study rows from the fold's CNN.

    The leakage rule: the CNN that embeds the test rows was trained on the fold's training
    patients only; a test patient among ``trained_on`` raises ``DataError``. Crop embeddings
    (float32) are averaged per study row (lesion, or patient for patient-level studies).
    """
    leaked = np.intersect1d(trained_on, patient_id[fold.test].astype(str))
    if leaked.size:
        raise DataError(f"fold r{fold.repeat}f{fold.fold}: the CNN that would embed the test "
                        f"patients {leaked[:5].tolist()} was trained on them.")
    mask = np.isin(rows, np.union1d(fold.train, fold.test))
    numerics = dataclasses.replace(result.numerics, precision="fp32")
    emb = embed_crops(result.model, crops.subset(np.flatnonzero(mask)), numerics=numerics)
    wanted, inverse, counts = np.unique(rows[mask], return_inverse=True, return_counts=True)
    mean = np.zeros((len(wanted), emb.shape[1]))
    np.add.at(mean, inverse, emb)
    return wanted, (mean / counts[:, None]).astype(np.float32)


def _train_fold(spec: DeepModelSpec, crops: CropSet, rows: np.ndarray, data: FeatureData,
                fold: Fold, seed: int, checkpoint: Path) -> tuple[FoldOutcome, FoldExtras]:
    """Train the fold's CNN on its training rows; predict, explain and embed with it."""
    from livermets.deep.explain import gallery_picks

    result, cut = fit_rows(spec, crops, rows, data, fold.train, seed, checkpoint)
    sub, sub_rows, clin, crop_prob = _test_crops(spec, result, crops, rows, data, fold.test)
    prob = _row_probabilities(sub, crop_prob, data, fold.test, spec.lesion_aggregation)
    outcome = FoldOutcome(spec.name, fold, prob, None if np.isnan(cut) else cut, [],
                          spec.model_dump(mode="json", exclude={"name", "manifest"}),
                          result.best_val_auc)
    trained_on = np.unique(crops.meta["patient_id"].astype(str).to_numpy()[
        np.isin(rows, fold.train)])
    picks = gallery_picks(result.model, sub, data.y[sub_rows], crop_prob, len(data.classes),
                          spec.gradcam, spec.lesion_aggregation, clin).assign(
        repeat=fold.repeat, fold=fold.fold, split=fold.split)
    emb_rows, embedding = np.zeros(0, int), None
    if spec.embeddings_for:
        emb_rows, embedding = fold_embeddings(result, crops, rows, fold, trained_on,
                                              data.patient_id)
    return outcome, FoldExtras(fold, trained_on, emb_rows, embedding, picks)


def embedding_outcome(config: Any, spec: DeepModelSpec, name: str, extras: FoldExtras,
                      data: FeatureData) -> FoldOutcome:
    """The classical model ``name`` refit on the fold's embeddings: trained on the training
    rows' embeddings, tested on the test rows' (all from the CNN of this fold)."""
    from livermets.models.validation import run_fold

    assert extras.embedding is not None
    classical = next(m for m in config.models if m.name == name)
    columns = [f"deep_{spec.name}_{k:03d}" for k in range(extras.embedding.shape[1])]
    X = pd.DataFrame(np.nan, index=np.arange(len(data.y)), columns=columns)
    X.iloc[extras.rows] = extras.embedding
    fold_data = FeatureData(X, data.y, data.classes, data.patient_id, data.lesion_id, data.meta)
    renamed = classical.model_copy(update={"name": f"{name}_on_{spec.name}"})
    return run_fold(renamed, fold_data, extras.fold, config.validation.tuning, config.seed)


def run_deep_models(config: Any, data: FeatureData, folds: Sequence[Fold],
                    development: np.ndarray, out: Path,
                    progress: Callable[[str], None] | None = None) -> list[FoldOutcome]:
    """Cross-validate every ``config.deep`` model on the study's folds; save final models.

    Also, per deep model: the out-of-fold Grad-CAM gallery (``out/deep/NAME/gradcam.png`` and
    ``.csv``), the patients each fold's CNN was trained on (``training_patients.parquet``), and
    the fold outcomes of the classical models of ``embeddings_for`` on its embeddings.
    """
    outcomes: list[FoldOutcome] = []
    for spec in config.deep:
        manifest = spec.manifest or config.data.manifest
        if manifest is None:
            raise ConfigError(
                f"deep model {spec.name!r} needs images: set data.manifest or deep[].manifest."
            )
        crops = lesion_crops(manifest, spec, out / "cache" / "deep")
        rows = _row_index(crops, data)
        keep = rows >= 0
        crops, rows = crops.subset(np.flatnonzero(keep)), rows[keep]
        # the whole config, the crops' content, the labels and the code of the CNN and of the
        # classical models refitted on its embeddings
        key = config.fingerprint(spec.model_dump(mode="json"), __version__, "deep",
                                 data.patient_id.tolist(), data.y.tolist(), crops.digest(),
                                 code_fingerprint(("deep", "models", "nn", "study")))
        extras: list[FoldExtras] = []
        embedded: list[FoldOutcome] = []
        for k, fold in enumerate(folds, start=1):
            tag = f"{spec.name}-{key}-r{fold.repeat}f{fold.fold}{fold.split}"
            path, extra_path = (out / "cache" / f"deep-{tag}.joblib",
                                out / "cache" / f"deep-{tag}-extras.joblib")
            outcome, extra = load_cached(path), load_cached(extra_path)
            if outcome is None or extra is None:
                seed = derive_seed(config.seed, spec.name, fold.repeat, fold.fold, fold.split)
                outcome, extra = _train_fold(spec, crops, rows, data, fold, seed,
                                             out / "cache" / "deep" / tag)
                dump_cached(path, outcome)
                dump_cached(extra_path, extra)
            # a finished fold is re-read from its outcome: its checkpoints (last.pt holds the
            # weights, best weights and optimiser state, ~4x the model) only served a resume
            shutil.rmtree(out / "cache" / "deep" / tag, ignore_errors=True)
            outcomes.append(outcome)
            extras.append(extra)
            for name in spec.embeddings_for:
                emb_path = out / "cache" / f"deep-{tag}-{name}.joblib"
                emb_outcome = load_cached(emb_path)
                if emb_outcome is None:
                    emb_outcome = embedding_outcome(config, spec, name, extra, data)
                    dump_cached(emb_path, emb_outcome)
                embedded.append(emb_outcome)
            if progress is not None:
                progress(f"  {spec.name}: fold {k}/{len(folds)}")
        outcomes.extend(embedded)
        _write_fold_records(out / "deep" / spec.name, spec, extras, data)
        if spec.final_model:
            seed = derive_seed(config.seed, spec.name, "final")
            result, cut = fit_rows(spec, crops, rows, data, development, seed,
                                   out / "cache" / "deep" / f"{spec.name}-{key}-final")
            save_deep_model(out / "models" / spec.name, spec, result, data, crops,
                            None if np.isnan(cut) else cut, config)
            shutil.rmtree(out / "cache" / "deep" / f"{spec.name}-{key}-final", ignore_errors=True)
    return outcomes


def _write_fold_records(folder: Path, spec: DeepModelSpec, extras: list[FoldExtras],
                        data: FeatureData) -> None:
    """The CNN training patients of every fold and the out-of-fold Grad-CAM gallery."""
    from livermets.deep.explain import draw_gallery, top_picks

    folder.mkdir(parents=True, exist_ok=True)
    write_table(pd.DataFrame(
        [(e.fold.repeat, e.fold.fold, e.fold.split, p) for e in extras for p in e.trained_on],
        columns=["repeat", "fold", "split", "patient_id"]), folder / "training_patients.parquet")
    # every lesion is a test lesion once per repeat: pool the first repeat's folds
    pool = [e.picks for e in extras if e.fold.repeat == 0 and not e.picks.empty]
    png, table = folder / "gradcam.png", folder / "gradcam.csv"
    for stale in (png, table):
        stale.unlink(missing_ok=True)
    if not pool or spec.gradcam == 0:
        return
    picks = top_picks(pd.concat(pool, ignore_index=True), spec.gradcam)
    classes = [str(c) for c in data.classes]
    draw_gallery(picks, classes, png, spec.gradcam)
    shown = picks.drop(columns=["image", "cam"]).assign(
        true=[classes[k] for k in picks["true"]], pred=[classes[k] for k in picks["pred"]],
        confidence=picks["confidence"].round(3))
    write_table(shown, table)


def save_deep_model(folder: Path, spec: DeepModelSpec, result: TrainResult, data: FeatureData,
                    crops: CropSet, threshold: float | None, config: Any = None) -> Path:
    """Write the frozen deep model: ``model.pt`` (weights) and ``card.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS) as tmp:
        torch.save(result.model.state_dict(), tmp)
    card = {
        "model": spec.name, "kind": "deep", "spec": spec.model_dump(mode="json"),
        "classes": [c.item() if isinstance(c, np.generic) else c for c in data.classes],
        "positive": str(data.classes[-1]) if data.binary else None,
        "level": "lesion" if data.lesion_id is not None else "patient",
        "threshold": threshold,
        "threshold_rule": "Youden index on the inner validation patients",
        "phases": crops.phases, "channels_per_phase": crops.channels_per_phase,
        "clinical_columns": list(data.clinical_columns) if spec.inputs != "image" else [],
        "clinical_encoding": _encoding(config, data) if spec.inputs != "image" else {},
        "clinical_mean": None if result.clinical_mean is None else result.clinical_mean.tolist(),
        "clinical_std": None if result.clinical_std is None else result.clinical_std.tolist(),
        "best_epoch": result.best_epoch, "best_val_auc": result.best_val_auc,
        "precision": result.extra.get("precision"),
        "channels_last": result.extra.get("channels_last"),
        "history": result.history,
        "synthetic": bool(getattr(config, "synthetic", False)),
        "model_file": WEIGHTS, "model_sha256": file_sha256(folder / WEIGHTS),
        "versions": {**package_versions(), "torch": torch.__version__},
    }
    write_text(folder / CARD, json.dumps(card, indent=2, default=str))
    return folder


def _encoding(config: Any, data: FeatureData) -> dict[str, list[str]]:
    """The study's clinical encoding (numeric: [], text: indicator levels) from its columns."""
    names = list(getattr(getattr(config, "data", None), "clinical", []) or [])
    out: dict[str, list[str]] = {}
    for name in names:
        if name in data.clinical_columns:
            out[name] = []
        else:
            out[name] = [c[len(name) + 1:] for c in data.clinical_columns
                         if c.startswith(f"{name}_")]
    return out


def load_deep_model(folder: str | Path) -> tuple[dict[str, Any], torch.nn.Module]:
    """A frozen deep model's card and network (weights checked against the card's hash)."""
    folder = Path(folder)
    if not (folder / CARD).is_file():
        raise InputFileError(f"{folder} has no {CARD}; pass a folder DIR/models/NAME.")
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    if card.get("kind") != "deep":
        raise InputFileError(f"{folder} is not a deep model (use `livermets predict`).")
    if file_sha256(folder / WEIGHTS) != card["model_sha256"]:
        raise DataError(f"{folder / WEIGHTS} does not match its card's hash; re-run the study.")
    spec = DeepModelSpec.model_validate(card["spec"])
    template = CropSet(np.zeros((1,)), np.zeros((1, len(card["phases"])), bool), pd.DataFrame(),
                       card["phases"], card["channels_per_phase"], spec.crops)
    model = build_model(spec.model_copy(update={"network": spec.network.model_copy(
        update={"weights": None})}), template, len(card["classes"]),
        len(card["clinical_columns"]))
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
    return card, model.eval()


def predict_deep(model_dir: str | Path, manifest: str | Path, out: str | Path,
                 cache: str | Path | None = None,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-lesion and per-patient predictions of a frozen deep model on a cohort manifest.

    ``model_dir`` is a livermets deep model folder (``card.json``), or a classifier the user
    brings: a TorchScript file, a folder with ``classifier.json`` or a MONAI bundle, whose
    settings ``options`` (``deep.byon.overrides``) complete or override.
    """
    path = Path(model_dir)
    if not path.exists():
        raise InputFileError(
            f"{path} does not exist: give a livermets deep model folder (DIR/models/NAME), a "
            "TorchScript file, a folder with classifier.json or a MONAI bundle folder."
        )
    if not (path / CARD).is_file():
        return predict_byon(model_dir, manifest, out, cache, options)
    if options:
        raise ConfigError(f"{model_dir} is a livermets deep model: its card fixes the crops, "
                          f"output and classes; drop {sorted(options)}.")
    card, model = load_deep_model(model_dir)
    spec = DeepModelSpec.model_validate(card["spec"])
    crops = lesion_crops(manifest, spec, Path(cache) if cache else None)
    if list(crops.phases) != list(card["phases"]):
        raise DataError(f"the model was trained on phases {card['phases']}, the manifest has "
                        f"{crops.phases}.")
    clinical = None
    if card["clinical_columns"]:
        from livermets.cohort import load_manifest
        from livermets.models.frozen import encode_clinical

        table = load_manifest(manifest).table
        missing = [c for c in card["clinical_encoding"] if c not in table.columns]
        if missing:
            raise DataError(f"the manifest lacks clinical columns {missing} the model needs.")
        encoded = encode_clinical(table, card["clinical_encoding"])
        per_patient = dict(zip(table["patient_id"].astype(str),
                               encoded[card["clinical_columns"]].to_numpy(np.float32),
                               strict=True))
        raw = np.stack([per_patient[p] for p in crops.meta["patient_id"]])
        clinical = np.nan_to_num((raw - np.asarray(card["clinical_mean"]))
                                 / np.asarray(card["clinical_std"])).astype(np.float32)
    numerics = Numerics.of(spec.train, torch.device("cpu"), 3 if spec.crops.mode == "3d" else 2)
    # the precision the model was validated in (the card's), not what this CPU would pick for
    # `auto`: the same frozen model must give the same probabilities on every machine
    numerics = dataclasses.replace(numerics, precision=card.get("precision") or "fp32")
    prob = predict_crops(model, crops, clinical, numerics=numerics, fuse=True)
    keys, lesion_prob = lesion_probabilities(crops.meta, prob, spec.lesion_aggregation)
    summary = write_predictions(keys, lesion_prob, card["classes"], card.get("threshold"),
                                card["model"], Path(out))
    return {**summary, "precision": numerics.precision}


def write_predictions(keys: pd.DataFrame, lesion_prob: np.ndarray, classes: list[Any],
                      cut: float | None, name: str, out: Path) -> dict[str, Any]:
    """Write the lesion table (``y_prob`` / ``p_<class>``, ``y_pred``) to ``out`` and the patient
    table (max over lesions; multi-class: the most suspicious lesion) beside it."""
    table = keys.assign(model=name)
    if len(classes) == 2:
        table["y_prob"] = lesion_prob[:, 1]
        table["y_pred"] = np.where(lesion_prob[:, 1] >= (0.5 if cut is None else cut),
                                   classes[1], classes[0])
    else:
        for k, label in enumerate(classes):
            table[f"p_{label}"] = lesion_prob[:, k]
        table["y_pred"] = np.asarray(classes, dtype=object)[lesion_prob.argmax(1)]
    write_table(table, out)
    pkeys, pprob = patient_probabilities(keys, lesion_prob, "max" if len(classes) == 2
                                         else "max_lesion")
    patients = pkeys.assign(model=name)
    for k, label in enumerate(classes):
        patients[f"p_{label}"] = pprob[:, k]
    patient_out = out.with_name(f"{out.stem}_patients{out.suffix}")
    write_table(patients, patient_out)
    return {"model": name, "rows": len(table), "patients": len(patients), "out": str(out),
            "patients_out": str(patient_out), "threshold": cut}


def predict_byon(model: str | Path, manifest: str | Path, out: str | Path,
                 cache: str | Path | None = None,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``predict_deep`` for a classifier the user brings (TorchScript, classifier.json, bundle)."""
    from livermets.deep.byon import class_names, load_classifier, run_classifier

    spec, network, files = load_classifier(model, options)
    crop_spec = DeepModelSpec(name="byon", crops=spec.crops)
    crops = lesion_crops(manifest, crop_spec, Path(cache) if cache else None)
    prob = run_classifier(network, crops, spec, Path(model))
    keys, lesion_prob = lesion_probabilities(crops.meta, prob, spec.lesion_aggregation)
    name = spec.name or Path(model).stem
    summary = write_predictions(keys, lesion_prob, class_names(spec, prob.shape[1]),
                                spec.threshold, name, Path(out))
    return {**summary, "source": str(model), "output": spec.output or "logit",
            "files_sha256": {p.name: file_sha256(p) for p in files if p.is_file()},
            "crops": spec.crops.model_dump(mode="json")}


def export_embeddings(model_dir: str | Path, manifest: str | Path,
                      out: str | Path) -> dict[str, Any]:
    """Write the penultimate-layer embedding of every lesion of ``manifest`` as a feature table."""
    from livermets.deep.explain import embedding_table

    card, model = load_deep_model(model_dir)
    if card["clinical_columns"]:
        raise ConfigError("embeddings of an image + clinical model would mix in the clinical "
                          "vector; export them from an image-only model.")
    spec = DeepModelSpec.model_validate(card["spec"])
    crops = lesion_crops(manifest, spec, None)
    table = embedding_table(model, crops, prefix=f"deep_{card['model']}")
    write_table(table, Path(out))
    return {"model": card["model"], "out": str(out), "rows": len(table),
            "features": table.shape[1] - 3}
