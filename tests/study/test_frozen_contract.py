"""The frozen-model contract for a model trained from ``data.features``: a table written by
``livermets features`` is accepted by ``predict`` when its extraction matches the model's and
refused, naming the differing settings, when it does not."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.helpers import make_cohort

PARAMS = {"engine": "pyradiomics",
          "extraction": {"feature_classes": ["firstorder", "glcm"],
                         "discretisation": {"bin_width": 25}}}


def _params(folder, name, bin_width):
    path = folder / name
    params = {**PARAMS, "extraction": {**PARAMS["extraction"],
                                       "discretisation": {"bin_width": bin_width}}}
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Features of six tiny patients (bin width 25), a study on them, its frozen model."""
    from typer.testing import CliRunner

    from livermets.cli.main import app

    folder = tmp_path_factory.mktemp("contract")
    manifest = make_cohort(folder / "cohort", n=6)
    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(app, [str(a) for a in args])
        return result.exit_code, result.output

    features = folder / "features.parquet"
    code, output = cli("features", manifest, "--params", _params(folder, "p25.yaml", 25),
                       "--out", features, "--workers", "1", "--json")
    assert code == 0, output
    config = folder / "study.yaml"
    config.write_text(yaml.safe_dump({
        "name": "contract", "seed": 1, "synthetic": True,
        "data": {"features": str(features), "positive": "metastasis"},
        "models": [{"name": "lr", "select": "anova", "select_params": {"k": 4},
                    "classifier": "logistic"}],
        "validation": {"design": "cv", "folds": 3, "repeats": 1, "bootstrap": 100},
    }))
    code, output = cli("study", "run", config, "--out", folder / "out", "--json")
    assert code == 0, output
    return folder, manifest, cli, json.loads(output)


def test_features_writes_a_params_sidecar_that_round_trips(trained):
    from livermets.radiomics import load_params

    folder, *_ = trained
    sidecar = folder / "features_params.yaml"
    params = load_params(sidecar)
    table = pd.read_parquet(folder / "features.parquet")
    assert set(table["params_hash"]) == {params.params_hash()}
    assert params.extraction.discretisation.bin_width == 25


def test_model_card_records_the_table_extraction(trained):
    folder, *_ = trained
    model = folder / "out" / "models" / "lr"
    card = json.loads((model / "card.json").read_text())
    table = pd.read_parquet(folder / "features.parquet")
    assert card["radiomics"]["params_hash"] == table["params_hash"].iloc[0]
    assert card["radiomics"]["engine_version"] == table["engine_version"].iloc[0]
    assert card["radiomics"]["params"]["extraction"]["discretisation"] == {"bin_width": 25.0}
    saved = yaml.safe_load((model / "radiomics_params.yaml").read_text())
    assert saved["extraction"]["feature_classes"] == ["firstorder", "glcm"]


def test_predict_accepts_a_matching_feature_table_and_a_manifest(trained):
    folder, manifest, cli, _ = trained
    model = folder / "out" / "models" / "lr"
    code, output = cli("predict", model, folder / "features.parquet", "--out",
                       folder / "pred_table.csv", "--json")
    assert code == 0, output
    from_table = pd.read_csv(folder / "pred_table.csv")
    assert len(from_table) == 12 and from_table["y_prob"].between(0, 1).all()
    code, output = cli("predict", model, manifest, "--out", folder / "pred_manifest.csv")
    assert code == 0, output
    from_manifest = pd.read_csv(folder / "pred_manifest.csv")
    pd.testing.assert_series_equal(from_manifest["y_prob"], from_table["y_prob"])


def test_predict_refuses_other_extraction_settings_by_name(trained):
    folder, manifest, cli, _ = trained
    other = folder / "features_bw5.parquet"
    code, output = cli("features", manifest, "--params", _params(folder, "p5.yaml", 5),
                       "--out", other, "--workers", "1")
    assert code == 0, output
    code, output = cli("predict", folder / "out" / "models" / "lr", other, "--out",
                       folder / "refused.csv")
    assert code == 2, output
    text = " ".join(output.split())
    assert "other radiomics settings than the model's" in text
    assert "extraction.discretisation.bin_width: 5.0 vs 25.0" in text
    assert not (folder / "refused.csv").exists()
    # without the sidecar only the hash is known: still refused, by hash
    (folder / "features_bw5_params.yaml").unlink()
    code, output = cli("predict", folder / "out" / "models" / "lr", other, "--out",
                       folder / "refused.csv")
    assert code == 2 and "params_hash" in output and "Traceback" not in output
