"""Optional MLflow tracking (`tracking: mlflow`): params, metrics and artifacts of a study run."""

from __future__ import annotations

from typing import Any

from livermets.errors import ConfigError


def _mlflow() -> Any:
    """The mlflow module, or a ConfigError saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "tracking: mlflow needs the optional MLflow package: pip install mlflow "
            "(or remove `tracking: mlflow` from the study config)."
        ) from None
    return mlflow


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """`<model>.<split>.auc` style numbers of a metrics document."""
    out: dict[str, float] = {}
    for model, entry in metrics["models"].items():
        for split, m in entry["splits"].items():
            if "auc" in m:
                out[f"{model}.{split}.auc"] = float(m["auc"]["auc"])
                out[f"{model}.{split}.auc_ci_low"] = float(m["auc"]["ci"][0])
                out[f"{model}.{split}.auc_ci_high"] = float(m["auc"]["ci"][1])
                for name in ("sensitivity", "specificity", "accuracy"):
                    if "youden" in m:
                        out[f"{model}.{split}.{name}"] = float(m["youden"][name]["value"])
            elif "macro_auc" in m:
                out[f"{model}.{split}.macro_auc"] = float(m["macro_auc"])
    return out


def log_mlflow(result: Any) -> str:
    """Log one MLflow run per study run (local ``out/mlruns`` store by default); its run id."""
    mlflow = _mlflow()
    config = result.config
    mlflow.set_tracking_uri(config.tracking_uri or (result.out / "mlruns").resolve().as_uri())
    mlflow.set_experiment(config.name)
    with mlflow.start_run(run_name=config.name) as run:
        mlflow.log_params({"seed": config.seed, "design": config.validation.design,
                           "folds": config.validation.folds, "repeats": config.validation.repeats,
                           "trials": config.validation.tuning.trials,
                           **{f"model.{s.name}": s.model_dump_json(exclude={"base"})[:500]
                              for s in result.specs}})
        mlflow.log_metrics(flat_metrics(result.metrics))
        for name in ("metrics.json", "predictions.parquet", "report.html"):
            path = result.out / name
            if path.is_file():
                mlflow.log_artifact(str(path))
        return str(run.info.run_id)
