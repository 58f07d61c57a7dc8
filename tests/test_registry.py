"""The one plug-in idiom, ``livermets._registry.Registry``: names, duplicates, unknown names,
options models; the classifiers, radiomics engines and segmentation backends all use it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from livermets._registry import Registry, validate_options
from livermets.errors import ConfigError, LivermetsError


class _Options(BaseModel):
    """Options of the test component."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = 0.5
    size: int = Field(default=3, ge=1)


def _registry() -> Registry[tuple]:
    reg: Registry[tuple] = Registry("test component")

    @reg.register("pair", description="two numbers", options=_Options)
    def pair(a: int = 1, b: int = 2) -> tuple:
        return (a, b)

    @reg.register("single")
    def single() -> tuple:
        """One number."""
        return (0,)

    return reg


def test_names_entries_and_create():
    reg = _registry()
    assert reg.names() == ["pair", "single"] and list(reg) == ["pair", "single"]
    assert "pair" in reg and "triple" not in reg
    assert reg.get("pair").description == "two numbers"
    assert reg.get("single").description == "One number."
    assert reg.create("pair", a=5) == (5, 2)
    with pytest.raises(ConfigError, match="bad parameters for test component 'pair'"):
        reg.create("pair", c=1)


def test_a_duplicate_name_raises():
    reg = _registry()
    with pytest.raises(ValueError, match="test component 'pair' is registered twice"):
        reg.register("pair")(lambda: (9,))
    assert reg.create("pair") == (1, 2)  # the first registration is kept


def test_an_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match=r"unknown test component 'pari': use one of pair, "
                                          r"single$") as info:
        _registry().get("pari")
    assert isinstance(info.value, LivermetsError) and info.value.exit_code == 2


def test_options_are_validated_by_the_entry_model():
    reg = _registry()
    assert reg.options("pair", {"threshold": "0.25"}) == _Options(threshold=0.25, size=3)
    assert reg.options("pair") == _Options()
    assert reg.options("single") is None
    with pytest.raises(ConfigError) as info:
        reg.options("pair", {"treshold": 0.3})
    assert str(info.value) == (
        "bad options for the test component 'pair' (treshold: Extra inputs are not permitted "
        "(did you mean 'threshold'?)). Valid options: threshold, size."
    )
    with pytest.raises(ConfigError, match=r"size: Input should be a valid integer.*"
                                          r"Valid options: threshold, size\."):
        reg.options("pair", {"size": "three"})
    with pytest.raises(ConfigError, match=r"size: Input should be greater than or equal to 1"):
        reg.options("pair", {"size": 0})
    with pytest.raises(ConfigError, match="'single' takes no options, got threshold"):
        reg.options("single", {"threshold": 1})
    with pytest.raises(ConfigError, match="unknown test component 'nope'"):
        reg.options("nope", {})


def test_validate_options_names_every_bad_key():
    with pytest.raises(ConfigError) as info:
        validate_options(_Options, {"treshold": 1, "size": -1}, "thing")
    message = str(info.value)
    assert message.startswith("bad options for thing (")
    assert "treshold: Extra inputs" in message and "size: Input should be greater" in message


def test_the_models_registry_is_the_shared_one():
    """``models.registry`` re-exports the low-level registry; the models' steps, the radiomics
    engines and the segmentation backends are instances of it."""
    from livermets.models import registry as models_registry
    from livermets.models.steps import CLASSIFIERS
    from livermets.radiomics.engines import ENGINES
    from livermets.segment.backends import BACKENDS

    assert models_registry.Registry is Registry
    for reg in (CLASSIFIERS, ENGINES, BACKENDS):
        assert isinstance(reg, Registry)
    assert {"pyradiomics", "mirp"} <= set(ENGINES)
    assert BACKENDS.names() == ["monai", "totalsegmentator", "nnunet", "torchscript", "bundle"]
