"""Study config validation and templates."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.study import register, template_names
from livermets.errors import ConfigError
from livermets.study import config_from_dict, load_config

TEMPLATES = ["crc_vs_pdac_origin", "crlm_vs_hemangioma", "mlm_nomogram",
             "multiphase_liver_tumours", "rectal_mri_slm"]


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value)


@pytest.mark.parametrize(("data", "expected"), [
    ({"data": {"features": "f.csv", "labl": "x"}, "models": [{"name": "a"}]},
     "data.labl: unknown key; allowed keys here: features, manifest,"),
    ({"data": {"features": "f.csv"}, "models": [{"name": "a", "classifier": "xgb"}]},
     "models.0.classifier: Value error, 'xgb' is not a known classifier; allowed: ['xgboost'"),
    ({"data": {"features": "f.csv"}, "models": [{"name": "a"}],
      "validation": {"design": "kfold"}},
     "validation.design: Input should be 'cv', 'nested_cv', 'fixed_split', 'external' or "
     "'three_way'"),
    ({"data": {"features": "f.csv"}, "models": [{"name": "a"}],
      "validation": {"design": "nested_cv"}},
     "nested_cv needs validation.tuning.trials >= 1"),
    ({"data": {}, "models": [{"name": "a"}]}, "give exactly one of data.features"),
    ({"data": {"features": "f.csv"}, "models": [{"name": "a"}, {"name": "a"}]},
     "model names must be unique; repeated: ['a']"),
    ({"data": {"features": "f.csv"}, "models": []},
     "models: list at least one model (or give a multiphase section)"),
])
def test_errors_name_the_key_and_the_allowed_values(data, expected):
    assert expected in _error(data)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("data: {features: t/f.parquet}\nmodels: [{name: a}]\n")
    assert load_config(path).data.features == (tmp_path / "t" / "f.parquet").resolve()


def test_missing_config_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="livermets study init TEMPLATE"):
        load_config(tmp_path / "nope.yaml")


def test_templates_are_listed_valid_and_written_by_init(tmp_path):
    assert template_names() == TEMPLATES
    app = new_app("test")
    register(app)
    runner = CliRunner()
    for name in TEMPLATES:
        target = tmp_path / f"{name}.yaml"
        result = runner.invoke(app, ["study", "init", name, "--out", str(target)])
        assert result.exit_code == 0, result.output
        config = load_config(target)
        assert config.name == name
    again = runner.invoke(app, ["study", "init", TEMPLATES[0], "--out",
                                str(tmp_path / f"{TEMPLATES[0]}.yaml")])
    assert again.exit_code == 2 and "--force" in again.output
    bad = runner.invoke(app, ["study", "init", "nope"])
    assert bad.exit_code == 2 and "use one of crc_vs_pdac_origin" in bad.output


def test_init_list_prints_every_template_with_its_title():
    app = new_app("test")
    register(app)
    result = CliRunner().invoke(app, ["study", "init", "--list"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == TEMPLATES
    assert any(line.startswith("rectal_mri_slm             Synchronous liver metastasis from "
                               "rectal MRI and clinical data") for line in lines)
    missing = CliRunner().invoke(app, ["study", "init"])
    assert missing.exit_code == 2 and "name a template" in missing.output


def test_init_list_labels_the_templates_whose_preset_adds_log_and_wavelet():
    app = new_app("test")
    register(app)
    lines = CliRunner().invoke(app, ["study", "init", "--list"]).output.strip().splitlines()
    label = {line.split()[0]: line for line in lines}
    assert "[slower: seed-ct-liver adds LoG + wavelet features, about 10-20x the extraction time]" \
        in label["crlm_vs_hemangioma"]
    assert "slower" in label["rectal_mri_slm"]  # seed-mri-rectum filters too
    assert "slower" not in label["crc_vs_pdac_origin"]  # the paper's original-only setting
    assert "slower" not in label["mlm_nomogram"]


def test_origin_template_runs_the_papers_setting_on_a_synth_holdout(tmp_path):
    from livermets.radiomics import preset_params

    app = new_app("test")
    register(app)
    target = tmp_path / "origin.yaml"
    assert CliRunner().invoke(app, ["study", "init", "crc_vs_pdac_origin", "--out",
                                    str(target)]).exit_code == 0
    config = load_config(target)
    assert config.data.manifest == (tmp_path / "cohort" / "manifest.csv").resolve()
    assert config.data.split_column == "split"
    assert config.validation.design == "fixed_split"
    assert config.validation.train_values == ["train"]
    types = preset_params(config.data.radiomics_params).extraction.image_types.enabled()
    assert types == ["original"]
    assert "--holdout 4+4" in target.read_text()
