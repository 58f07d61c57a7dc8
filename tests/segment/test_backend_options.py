"""Segmentation backends through the registry: each is found by name and built with the same
defaults as its constructor's; a mistyped or wrongly typed option is a ConfigError naming the
backend, the key and the valid keys (Python API, study YAML, CLI: exit 2, no traceback)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from livermets.errors import ConfigError
from livermets.segment import make_backend
from livermets.segment.backends import BACKENDS, backend_options
from livermets.segment.backends.monai_backend import MonaiBackend
from livermets.segment.backends.network import NetworkBackend, NetworkSettings
from livermets.segment.backends.nnunet import NnUNetBackend
from livermets.segment.backends.totalseg import TotalSegmentatorBackend
from livermets.study.config import load_config
from livermets.study.demo import demo_config
from tests.helpers import make_cohort

CLASSES = {
    "monai": MonaiBackend, "totalsegmentator": TotalSegmentatorBackend, "nnunet": NnUNetBackend,
    "torchscript": NetworkBackend, "bundle": NetworkBackend,
}  # fmt: skip


def _model(name: str, tmp_path: Path) -> Path | None:
    return None if name == "totalsegmentator" else tmp_path / "model"


@pytest.mark.parametrize("name", list(CLASSES))
def test_each_backend_is_found_by_name(name, tmp_path):
    entry = BACKENDS.get(name)
    assert entry.options is not None
    assert entry.options.model_config["extra"] == "forbid"
    assert entry.options.model_config["frozen"] is True
    backend = make_backend(name, model=_model(name, tmp_path))
    assert type(backend) is CLASSES[name] and backend.name == name


def test_defaults_are_the_constructors_defaults(tmp_path):
    """No option given: the same backend as calling the class directly (same signature)."""
    model = tmp_path / "model"
    pairs = [
        (make_backend("totalsegmentator"), TotalSegmentatorBackend()),
        (make_backend("nnunet", model=model), NnUNetBackend(model)),
        (make_backend("monai", model=model), MonaiBackend(model)),
        (make_backend("torchscript", model=model), NetworkBackend("torchscript", model)),
    ]
    for built, direct in pairs:
        assert {k: v for k, v in vars(built).items()} == vars(direct)
        assert built.signature() == direct.signature()
    assert make_backend("bundle", model=model).settings == NetworkSettings()


def test_nnunet_options_parse_like_the_cli(tmp_path):
    """The study YAML may spell nnU-Net options as the CLI does."""
    backend = make_backend("nnunet", model=tmp_path, folds="0,all", labels="liver=1,2;lesions=2",
                           channels="image_arterial,image_venous", threads=2)
    assert backend.folds == (0, "all")
    assert backend.labels == {"liver": (1, 2), "lesions": (2,)}
    assert backend.channels == ("image_arterial", "image_venous")
    assert backend.threads == 2
    assert make_backend("nnunet", model=tmp_path, folds=[1, 3]).folds == (1, 3)


MISTYPED = [
    ("monai", {"thread": 2}, "thread", None),
    ("totalsegmentator", {"liver_tsk": "total"}, "liver_tsk", "liver_task"),
    ("nnunet", {"fold": [0]}, "fold", "folds"),
    ("torchscript", {"overlapp": 0.5}, "overlapp", "overlap"),
    ("bundle", {"rois": (8, 8, 8)}, "rois", "roi"),
]
WRONG_TYPE = [
    ("monai", {"threads": "two"}, "threads: Input should be a valid integer"),
    ("monai", {"threads": 0}, "threads: Input should be greater than or equal to 1"),
    ("totalsegmentator", {"fast": "maybe"}, "fast: Input should be a valid boolean"),
    ("totalsegmentator", {"download": [1]}, "download: Input should be a valid boolean"),
    ("nnunet", {"folds": "first"}, "folds: Value error, folds must be fold numbers"),
    ("nnunet", {"folds": [0, 1.5]}, "folds: Value error, folds must be fold numbers"),
    ("nnunet", {"labels": "kidney=3"}, "labels: Value error, labels names unknown regions"),
    ("torchscript", {"overlap": "big"}, "overlap: Input should be a valid number"),
    ("bundle", {"roi": "a,b,c"}, "roi.0: Input should be a valid integer"),
]


def _valid(name: str) -> str:
    return "Valid options: " + ", ".join(BACKENDS.get(name).options.model_fields) + "."


@pytest.mark.parametrize(("name", "options", "key", "close"), MISTYPED)
def test_a_mistyped_option_is_a_config_error(name, options, key, close, tmp_path):
    with pytest.raises(ConfigError) as info:
        make_backend(name, model=_model(name, tmp_path), **options)
    message = str(info.value)
    assert message.startswith(f"bad options for the segmentation backend '{name}' ({key}: "
                              "Extra inputs are not permitted")
    assert message.endswith(_valid(name))
    assert (f"(did you mean '{close}'?)" in message) == (close is not None)


@pytest.mark.parametrize(("name", "options", "problem"), WRONG_TYPE)
def test_a_wrongly_typed_option_is_a_config_error(name, options, problem, tmp_path):
    with pytest.raises(ConfigError) as info:
        make_backend(name, model=_model(name, tmp_path), **options)
    message = str(info.value)
    assert f"segmentation backend '{name}' ({problem}" in message
    assert message.endswith(_valid(name))


def test_unknown_backend_and_a_model_where_none_is_taken(tmp_path):
    with pytest.raises(ConfigError, match="unknown segmentation backend 'totalseg': use one of "
                                          "monai, totalsegmentator, nnunet, torchscript, bundle"):
        backend_options("totalseg", {})
    with pytest.raises(ConfigError, match="the totalsegmentator backend takes no model"):
        make_backend("totalsegmentator", model=tmp_path)


def _study_yaml(tmp_path: Path, segmentation: dict) -> Path:
    manifest = make_cohort(tmp_path / "cohort", n=2)
    raw = demo_config(manifest).model_dump(mode="json")
    raw["segmentation"] = segmentation
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_study_yaml_options_are_validated_on_load(tmp_path):
    good = _study_yaml(tmp_path / "a", {"backend": "nnunet", "model": str(tmp_path),
                                        "options": {"folds": [0, 1], "threads": 2}})
    assert load_config(good).segmentation.options == {"folds": [0, 1], "threads": 2}
    bad = _study_yaml(tmp_path / "b", {"backend": "monai", "options": {"treshold": 0.5}})
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert "segmentation: Value error, bad options for the segmentation backend 'monai' " \
           "(treshold: Extra inputs are not permitted). Valid options: threads." in message
    wrong = _study_yaml(tmp_path / "c", {"backend": "totalsegmentator",
                                         "options": {"fast": "sometimes"}})
    with pytest.raises(ConfigError, match="fast: Input should be a valid boolean"):
        load_config(wrong)
    unknown = _study_yaml(tmp_path / "d", {"backend": "sam2"})
    with pytest.raises(ConfigError, match="unknown segmentation backend 'sam2': use one of monai"):
        load_config(unknown)


def test_study_cli_with_a_mistyped_option_exits_2(cli, tmp_path):
    path = _study_yaml(tmp_path, {"backend": "totalsegmentator", "options": {"fats": True}})
    out = tmp_path / "out"
    code, output = cli("study", "run", path, "--out", out)
    text = " ".join(output.split())
    assert code == 2, output
    assert "Traceback" not in output and not out.exists()
    assert "segmentation backend 'totalsegmentator' (fats: Extra inputs are not permitted " \
           "(did you mean 'fast'?))" in text


def _refused(cli, tmp_path: Path, *args) -> str:
    manifest = make_cohort(tmp_path / "cohort", 1)
    out = tmp_path / "out"
    code, output = cli("segment", manifest, "--out", out, *args)
    assert code == 2, output
    assert "Traceback" not in output and not out.exists()
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend", "torchscript", "--model", "net.pt", "--set", "overlapp=0.5"],
         "segmentation backend 'torchscript' (overlapp: Extra inputs are not permitted (did you "
         "mean 'overlap'?))"),
        (["--backend", "bundle", "--model", "b", "--set", "overlap=big"],
         "segmentation backend 'bundle' (overlap: Input should be a valid number"),
        (["--backend", "nnunet", "--model", "m", "--threads", "0"],
         "segmentation backend 'nnunet' (threads: Input should be greater than or equal to 1)"),
        (["--backend", "monai", "--model", "m", "--fast"],
         "--fast is not an option of the monai backend (its options: --threads)."),
        (["--backend", "totalsegmentator", "--threads", "2", "--folds", "0"],
         "--folds, --threads are not an option of the totalsegmentator backend (its options: "
         "--device, --fast, --lesion-task, --license-key, --liver-task, --offline, "
         "--weights-dir)."),
        (["--backend", "totalsegmentator", "--model", "m"],
         "the totalsegmentator backend takes no model"),
    ],
)
def test_segment_cli_bad_options_exit_2(cli, tmp_path, args, expected):
    assert expected in _refused(cli, tmp_path, *args)


def test_segment_cli_passes_only_the_backends_options(cli, tmp_path, monkeypatch):
    """Flags left at their default are not passed; the backend gets its own flags only."""
    seen: dict = {}

    def spy(name, model=None, **options):
        seen.update(name=name, model=model, options=options)
        raise ConfigError("stop here")

    monkeypatch.setattr("livermets.segment.make_backend", spy)
    _refused(cli, tmp_path, "--backend", "nnunet", "--model", "m", "--folds", "0,1",
             "--labels", "liver=1,2;lesions=2", "--threads", "1")
    assert seen == {"name": "nnunet", "model": Path("m"), "options": {
        "folds": (0, 1), "labels": {"liver": (1, 2), "lesions": (2,)}, "threads": 1}}
    _refused(cli, tmp_path / "t", "--backend", "totalsegmentator", "--fast", "--offline",
             "--device", "gpu")
    assert seen["options"] == {"fast": True, "device": "gpu", "download": False}
    assert json.dumps(seen["options"])  # plain values, as a YAML would give


def test_cli_flag_defaults_are_the_options_defaults():
    """A flag left at its default is not passed, so its default must be the backend's own."""
    from livermets.cli.segment import FLAGS, run

    parameters = inspect.signature(run).parameters
    for key, (flag, default) in FLAGS.items():
        option = parameters["offline" if key == "download" else key].default
        assert option.param_decls[0] == flag
        assert (not option.default if key == "download" else option.default) == default
        for name in BACKENDS:
            fields = BACKENDS.get(name).options.model_fields
            if key in fields:
                assert fields[key].default == default, (name, key)
