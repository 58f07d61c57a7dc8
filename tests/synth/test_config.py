"""Settings validation: every bad input is a ConfigError that says how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from livermets.errors import ConfigError
from livermets.synth import generate_cohort, make_config
from livermets.synth.config import centre_of

BAD = [
    ({"task": "crlm-vs-cyst"}, "unknown synthetic task"),
    ({"patients": 0}, "--patients"),
    ({"patients": -3}, "--patients"),
    ({"patients": True}, "--patients"),
    ({"seed": -1}, "--seed"),
    ({"centres": 3}, "--centres"),
    ({"scale": 10.0}, "--scale"),
    ({"phases": "arterial"}, "must include venous"),
    ({"phases": "venous,portal"}, "unknown phase"),
    ({"phases": "venous,venous"}, "twice"),
    ({"task": "slm-clinical", "phases": "venous"}, "CT tasks only"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_settings_raise_config_error(change: dict, message: str) -> None:
    """Each invalid setting is rejected with a message naming the option."""
    settings = {"task": "crlm-vs-hemangioma", "patients": 4, "seed": 1, **change}
    with pytest.raises(ConfigError, match=message):
        make_config(**settings)


@pytest.mark.parametrize(
    ("task", "phases", "expected"),
    [
        ("crlm-vs-hemangioma", None, ("venous",)),
        ("multiphase-multiclass", None, ("nc", "arterial", "venous", "delayed")),
        ("crlm-vs-hemangioma", "venous, ARTERIAL", ("arterial", "venous")),
        ("multiphase-multiclass", ["delayed", "venous"], ("venous", "delayed")),
        ("slm-clinical", None, ()),
    ],
)
def test_phases_resolve_in_canonical_order(task: str, phases: object, expected: tuple) -> None:
    """Phases default per task and come back in acquisition order."""
    assert make_config(task, 2, 0, phases=phases).phases == expected


def test_unwritable_out_dir_is_config_error(tmp_path: Path) -> None:
    """An output path below a regular file cannot be created."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"file\.txt is a file, not a folder"):
        generate_cohort(make_config("crlm-vs-hemangioma", 1, 0), blocker / "cohort")
    with pytest.raises(ConfigError, match="is an existing file, but a folder is written here"):
        generate_cohort(make_config("crlm-vs-hemangioma", 1, 0), blocker)


def test_workers_below_one_rejected(tmp_path: Path) -> None:
    """--workers 0 is a user error."""
    with pytest.raises(ConfigError, match="--workers"):
        generate_cohort(make_config("crlm-vs-hemangioma", 1, 0), tmp_path, workers=0)


@pytest.mark.parametrize(
    ("patients", "centres", "expected"),
    [(1, 2, "A"), (2, 2, "AB"), (5, 2, "AAABB"), (10, 2, "AAAAAABBBB"), (4, 1, "AAAA")],
)
def test_centre_assignment(patients: int, centres: int, expected: str) -> None:
    """The first 60% of patients are centre A, the rest B (at least one each when possible)."""
    got = "".join(centre_of(i, patients, centres) for i in range(patients))
    assert got == expected
