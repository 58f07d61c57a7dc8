"""The demo's CNN: DenseNet-121 on 64-px lesion crops, on the radiomics study's own folds, and a
report section comparing it with the radiomics models (synthetic data: no clinical claim)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livermets import __version__
from livermets._atomic import write_table
from livermets._cache import dump_cached, load_cached
from livermets._code import code_fingerprint
from livermets.deep.config import DeepModelSpec
from livermets.errors import DataError

DEMO_CNN = {
    "name": "densenet121_cnn",
    "crops": {"mode": "2d", "size": 64, "max_slices": 3, "window": "seed"},
    "network": {"backbone": "densenet121", "dropout": 0.2},
    "train": {"epochs": 4, "batch_size": 16, "lr": 1e-3, "patience": 4},
}


def _fold_key(spec: Any, crops_hash: str, y: np.ndarray, train_ids: list[str],
              test_ids: list[str], seed: int) -> str:
    """What one fold's CNN depends on: settings, crops, labels, patients, seed, the precision
    this CPU trains in, torch and livermets' code."""
    import torch

    from livermets.deep.train import resolve_precision

    precision = resolve_precision(spec.train.precision, torch.device("cpu"), spec.train.amp)
    digest = hashlib.sha256(json.dumps(
        [spec.model_dump(mode="json"), crops_hash, train_ids, test_ids, seed, __version__,
         code_fingerprint(("deep", "models", "nn")), precision, torch.__version__],
        sort_keys=True).encode())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()[:16]


def _load_fold(path: Path, key: str, with_model: bool) -> dict[str, Any] | None:
    """A fold's cached lesion predictions (and model weights), or None when stale or absent."""
    cached = load_cached(path)
    if not isinstance(cached, dict) or cached.get("key") != key or (
            with_model and cached.get("model") is None):
        return None
    return cached


def _save_fold(path: Path, payload: dict[str, Any]) -> None:
    dump_cached(path, payload)


def _auc_row(name: str, truth: np.ndarray, score: np.ndarray, positive: str) -> dict[str, Any]:
    from livermets.stats import roc_auc

    res = roc_auc(truth, score, positive=positive, direction="<")
    return {"model": name, "AUC": round(res.auc, 3),
            "95% CI (DeLong)": f"{res.ci[0]:.3f}-{res.ci[1]:.3f}", "lesions": len(truth)}


@dataclass(frozen=True)
class DemoCnnResult:
    """The demo CNN against the radiomics models on the same folds (``report.deep`` draws it)."""

    spec: DeepModelSpec
    table: pd.DataFrame  # lesion-level AUC of the CNN and each radiomics model, paired DeLong
    n_folds: int
    n_lesions: int
    fit_seconds: float
    threads: int
    reused_folds: int
    gradcam: Path | None  # the Grad-CAM gallery of the last fold's test lesions


def run_demo_cnn(manifest: str | Path, out: str | Path, seed: int = 0,
                 workers: int | None = 1, spec: dict[str, Any] | None = None) -> DemoCnnResult:
    """Train the demo CNN on the folds of the radiomics study in ``out``.

    ``out`` is the folder the demo's radiomics study wrote (it reads ``splits.parquet`` and
    ``predictions.parquet`` there); the CNN's predictions and tables go to ``out/deep/``.
    """
    import torch

    from livermets.cohort import load_manifest
    from livermets.deep.aggregate import lesion_probabilities
    from livermets.deep.crops import build_crops
    from livermets.deep.explain import cam_gallery
    from livermets.deep.train import build_model, predict_crops, train_lesion_model
    from livermets.lesions import LesionSettings, build_lesion_tables
    from livermets.models.validation import derive_seed
    from livermets.stats import compare_aucs

    out = Path(out)
    splits_path, pred_path = out / "splits.parquet", out / "predictions.parquet"
    if not splits_path.is_file() or not pred_path.is_file():
        raise DataError(f"{out} has no splits.parquet / predictions.parquet: run the demo's "
                        "radiomics study into it first.")
    splits = pd.read_parquet(splits_path)
    radiomics = pd.read_parquet(pred_path)
    radiomics = radiomics[radiomics["split"] == "cv"]
    cnn = DeepModelSpec.model_validate({**DEMO_CNN, **(spec or {}),
                                        "train": {**DEMO_CNN["train"], "threads": workers or 1,
                                                  **(spec or {}).get("train", {})}})
    loaded = load_manifest(manifest)
    lesions, _ = build_lesion_tables(loaded, LesionSettings())
    crops = build_crops(loaded, lesions, cnn.crops, out / "deep" / "crops")
    classes = sorted(radiomics["y_true"].astype(str).unique())
    positive = "metastasis" if "metastasis" in classes else classes[-1]
    classes = [c for c in classes if c != positive] + [positive]
    y = crops.meta["label"].astype(str).map({c: k for k, c in enumerate(classes)})
    if y.isna().any():
        raise DataError(f"lesion labels {sorted(set(crops.meta['label']) - set(classes))} are "
                        f"not classes of the radiomics study {classes}.")
    y = y.to_numpy(dtype=int)
    patients = crops.meta["patient_id"].astype(str).to_numpy()
    frames, last, fit_seconds, reused = [], None, 0.0, 0
    cv = splits[splits["kind"] == "cv"]
    folds = list(cv.groupby(["repeat", "fold"], sort=True))
    crops_hash = crops.digest()
    for k, ((repeat, fold), group) in enumerate(folds):
        train_ids = set(group.loc[group["role"] == "train", "patient_id"].astype(str))
        test_ids = set(group.loc[group["role"] == "test", "patient_id"].astype(str))
        tr, te = np.flatnonzero(np.isin(patients, list(train_ids))), np.flatnonzero(
            np.isin(patients, list(test_ids)))
        fold_seed = derive_seed(seed, cnn.name, repeat, fold)
        key = _fold_key(cnn, crops_hash, y, sorted(train_ids), sorted(test_ids), fold_seed)
        cache = out / "deep" / "cache" / f"fold-{repeat}-{fold}.joblib"
        is_last = k == len(folds) - 1
        cached = _load_fold(cache, key, with_model=is_last)
        reused += cached is not None
        if cached is None:
            fold_start = time.perf_counter()
            result = train_lesion_model(crops.subset(tr), y[tr], classes, cnn, fold_seed)
            keys, prob = lesion_probabilities(crops.meta.iloc[te],
                                              predict_crops(result.model, crops.subset(te)),
                                              cnn.lesion_aggregation)
            cached = {"key": key, "keys": keys, "prob": prob[:, 1],
                      "seconds": time.perf_counter() - fold_start,
                      "model": result.model.state_dict() if is_last else None}
            _save_fold(cache, cached)
        keys = cached["keys"]
        fit_seconds += cached["seconds"]
        truth = keys.merge(crops.meta[["patient_id", "lesion_id", "label"]].drop_duplicates(
            ["patient_id", "lesion_id"]).astype(str), on=["patient_id", "lesion_id"])["label"]
        frames.append(keys.assign(model=cnn.name, repeat=repeat, fold=fold, split="cv",
                                  y_true=truth.to_numpy(), y_prob=cached["prob"]))
        if is_last:
            model = build_model(cnn, crops, len(classes), 0)
            model.load_state_dict(cached["model"])
            last = (model.eval(), te)
    predictions = pd.concat(frames, ignore_index=True)
    write_table(predictions, out / "deep" / "predictions_cnn.parquet")

    both = pd.concat([radiomics.astype({"patient_id": str, "lesion_id": str}), predictions])
    wide = both.pivot_table(index=["patient_id", "lesion_id", "y_true"], columns="model",
                            values="y_prob", aggfunc="mean").reset_index().dropna()
    truth = wide["y_true"].astype(str).to_numpy()
    models = [m for m in radiomics["model"].unique() if m in wide]
    rows = [_auc_row(cnn.name, truth, wide[cnn.name].to_numpy(), positive)]
    for name in models:
        row = _auc_row(name, truth, wide[name].to_numpy(), positive)
        cmp = compare_aucs(truth, wide[cnn.name].to_numpy(), wide[name].to_numpy(),
                           positive=positive, direction="<")
        row["CNN - model (95% CI)"] = f"{cmp.diff:+.3f} ({cmp.ci[0]:+.3f} to {cmp.ci[1]:+.3f})"
        row["DeLong p"] = f"{cmp.p:.3g}"
        rows.append(row)
    table = pd.DataFrame(rows)
    write_table(table, out / "deep" / "cnn_vs_radiomics.csv")
    gradcam = None
    if last is not None:
        model, te = last
        png = cam_gallery(model, crops.subset(te), y[te], classes,
                          out / "deep" / "gradcam.png", per_group=2)
        gradcam = png if png.is_file() else None
    return DemoCnnResult(spec=cnn, table=table, n_folds=len(frames), n_lesions=len(wide),
                         fit_seconds=fit_seconds, threads=torch.get_num_threads(),
                         reused_folds=reused, gradcam=gradcam)
