"""A study's ``multiphase:`` section: the multi-phase lesion network trained on the development
patients and tested on an internal hold-out and the external centres."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from livermets.errors import ConfigError
from livermets.study.config import StudyConfig


def run_multiphase_section(config: StudyConfig, out: Path,
                           log: Callable[[str], None] | None = None) -> Any:
    """Run the workflow into ``out/multiphase``; returns its ``WorkflowResult``."""
    from livermets.deep.multiphase.config import make_settings
    from livermets.deep.multiphase.workflow import run_workflow

    spec = config.multiphase
    if spec is None:
        raise ConfigError("the study has no multiphase section.")
    if config.data.manifest is None:
        raise ConfigError("multiphase needs data.manifest: a multi-phase cohort manifest with "
                          "image_nc / image_arterial / image_venous [/ image_delayed] columns, "
                          "lesion masks and lesion-label files.")
    external = spec.external_centres
    if external is None:
        external = (config.validation.test_centres if config.validation.design == "external"
                    else [])
    settings = make_settings({"seed": config.seed, **spec.settings})
    return run_workflow(config.data.manifest, settings, out / "multiphase",
                        external_centres=external, test_fraction=spec.test_fraction,
                        seed=config.seed, drop_phase_scenarios=spec.drop_phases,
                        n_boot=config.validation.bootstrap, log=log)


def multiphase_metrics(result: Any) -> dict[str, Any]:
    """Headline numbers for metrics.json."""
    return {"summary": result.summary().to_dict(orient="records"),
            "train_patients": len(result.split.train),
            "internal_patients": len(result.split.internal),
            "external_patients": len(result.split.external),
            "iterations": result.iterations, "train_seconds": round(result.train_seconds, 1)}
