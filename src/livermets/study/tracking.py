"""Optional MLflow tracking (`tracking: mlflow`): params, metrics and artifacts of a study run.

Without ``tracking_uri`` the run goes to a store inside the output folder: ``OUT/mlflow.db``
(SQLite; MLflow 3 refuses its plain-folder store unless told otherwise) with the artifacts in
``OUT/mlartifacts/``. Read it with ``mlflow ui --backend-store-uri sqlite:///OUT/mlflow.db`` or
``mlflow.tracking.MlflowClient("sqlite:///OUT/mlflow.db")``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from livermets.errors import ConfigError

ARTIFACTS = ("metrics.json", "predictions.parquet", "predictions_patients.parquet",
             "thresholds.parquet", "splits.parquet", "report.html")


def _mlflow() -> Any:
    """The mlflow module, or a ConfigError saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "tracking: mlflow needs the optional MLflow client: pip install 'livermets[tracking]' "
            "(mlflow-skinny), or remove `tracking: mlflow` from the study config."
        ) from None
    return mlflow


def default_store(out: Path) -> tuple[str, str]:
    """The tracking URI and artifact location used without ``tracking_uri``."""
    out = out.resolve()
    return f"sqlite:///{(out / 'mlflow.db').as_posix()}", (out / "mlartifacts").as_uri()


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
                out[f"{model}.{split}.accuracy"] = float(m["accuracy"]["value"])
    return out


def _experiment(client: Any, name: str, artifacts: str | None) -> str:
    """The id of experiment ``name``, created (with ``artifacts`` as its location) if new."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifacts))


def run_params(result: Any) -> dict[str, Any]:
    """The logged parameters: design, seed, task and every model's spec (500 characters)."""
    config = result.config
    return {"seed": config.seed, "task": config.task, "design": config.validation.design,
            "folds": config.validation.folds, "repeats": config.validation.repeats,
            "trials": config.validation.tuning.trials,
            **{f"model.{s.name}": s.model_dump_json(exclude={"base"})[:500]
               for s in result.specs}}


def log_mlflow(result: Any) -> str:
    """Log one MLflow run per study run; its run id. Each final model's folder (card,
    model file) goes under the artifact path ``models/NAME``."""
    _mlflow()
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    config = result.config
    uri, artifacts = ((config.tracking_uri, None) if config.tracking_uri
                      else default_store(result.out))
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = _experiment(client, config.name, artifacts)
    except MlflowException as exc:
        raise ConfigError(f"tracking_uri {uri!r}: {exc.message}") from None
    run_id = client.create_run(experiment, run_name=config.name,
                               tags={"livermets.out": str(result.out.resolve())}).info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in flat_metrics(result.metrics).items()],
            params=[Param(k, str(v)) for k, v in run_params(result).items()],
        )
        for name in ARTIFACTS:
            path = result.out / name
            if path.is_file():
                client.log_artifact(run_id, str(path))
        for name, final in result.finals.items():
            client.log_artifacts(run_id, str(final.folder), artifact_path=f"models/{name}")
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    return str(run_id)
