"""Every study template runs unchanged on its matching synthetic task, end to end, small.

Only sizes change: the data path, folds / repeats / tuning trials, CNN epochs and crop size,
multi-phase iterations, and the radiomics resampling grid (3 mm instead of 1 mm, so the whole-
liver features of a tiny cohort take seconds). Models, selectors, regions, feature classes,
filters, designs, clinical and survival settings stay as the template writes them.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from livermets.cli.main import app
from livermets.radiomics import preset_params

COMMON = {"models", "models-roc", "models-calibration", "models-dca",
          "models-features", "study-patients", "study-flow"}
BINARY_ONLY = {"models-roc", "models-calibration", "models-dca"}
CASES = {
    # template: (synth task, patients, outer folds, extra synth options, sections beyond COMMON)
    "crlm_vs_hemangioma": ("crlm-vs-hemangioma", 24, 3, [], {"models-subgroups",
                                                             "models-patients"}),
    "crc_vs_pdac_origin": ("crc-vs-pdac", 24, 3, ["--holdout", "4+4"], {"models-subgroups"}),
    "mlm_nomogram": ("mlm-survival", 80, 3, [], {"models-clinical", "models-survival"}),
    "rectal_mri_slm": ("slm-clinical", 60, 3, [], {"models-clinical", "models-deep"}),
    "multiphase_liver_tumours": ("multiphase-multiclass", 90, 2, ["--seed", "1"],
                                 {"multiphase"}),
}


def shrink(config: dict, folder: Path, folds: int) -> dict:
    """The template with the sizes of a tiny run and its data in ``folder/cohort``."""
    config["data"]["manifest"] = "cohort/manifest.csv"
    preset = config["data"].get("radiomics_params")
    if preset:
        params = preset_params(preset).model_dump(mode="json")
        resampling = params["extraction"].get("resampling") or {}
        if resampling.get("spacing"):
            resampling["spacing"] = [3.0, 3.0, 3.0]
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        config["data"]["radiomics_params"] = "params.yaml"
    validation = config["validation"]
    trials = 2 if validation.get("tuning", {}).get("trials") else 0
    validation.update(folds=folds, repeats=1, tuning={"trials": trials, "inner_folds": 2})
    for model in config.get("deep") or []:
        model.setdefault("train", {})["epochs"] = 1
        model["crops"]["size"] = 16
    if "multiphase" in config:
        config["multiphase"]["settings"].update(iterations=2, patch=[16, 16, 8])
    return config


@pytest.mark.parametrize("template", sorted(CASES))
def test_template_runs_unchanged_on_its_synthetic_task(template, tmp_path, monkeypatch):
    task, patients, folds, extra, sections = CASES[template]
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    seed = [] if "--seed" in extra else ["--seed", "3"]
    made = runner.invoke(app, ["synth", "--task", task, "--patients", str(patients), *seed,
                               "--scale", "2", "--workers", "1", "--out", "cohort", *extra])
    assert made.exit_code == 0, made.output
    config = yaml.safe_load((files("livermets") / "templates" / f"{template}.yaml").read_text())
    original = json.dumps(config, sort_keys=True)
    config = shrink(config, tmp_path, folds)
    kept = {k: v for k, v in config.items() if k not in {"data", "validation", "deep",
                                                         "multiphase"}}
    assert all(json.dumps(v, sort_keys=True) in original for v in kept.values())
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    result = runner.invoke(app, ["study", "run", "study.yaml", "--out", "out"])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "report.html").read_text()
    present = set(re.findall(r'<section id="([^"]+)">', html))
    binary = config["task"] == "binary"  # ROC, calibration and DCA sections are binary-only
    expected = (COMMON if binary else COMMON - BINARY_ONLY) | sections
    assert expected <= present, sorted(expected - present)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics, "metrics.json is empty"
    # the template does not say synthetic: the cohort's synth marker makes the report say it
    assert "synthetic" not in config or not config["synthetic"]
    assert metrics["synthetic"] is True and "<strong>Synthetic data.</strong>" in html
    predictions = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    names = {m["name"] for m in config["models"]} | {m["name"] for m in config.get("deep") or []}
    assert names <= set(predictions["model"]), sorted(names - set(predictions["model"]))
    assert predictions["y_prob"].between(0, 1).all() if "y_prob" in predictions else True
