"""A core install (no deep, explain or readers extra) runs the radiomics study and says how to
install what a command needs; pyproject's extras and livermets._extras agree."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import livermets
from livermets._extras import EXTRAS, MissingExtraError, available, require

ROOT = Path(__file__).parents[1]
SCRIPT = Path(__file__).with_name("without_extras.py")
DISTRIBUTIONS = {  # module -> the PyPI name in pyproject
    "torch": None, "monai": "monai", "shap": "shap", "fastapi": "fastapi", "uvicorn": "uvicorn",
    "sqlalchemy": "sqlalchemy", "alembic": "alembic", "argon2": "argon2-cffi",
    "itsdangerous": "itsdangerous", "multipart": "python-multipart", "httpx": "httpx"}


def _core(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``livermets ARGS`` with the extras' modules unimportable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(livermets.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_pyproject_extras_match_the_modules_livermets_checks():
    """Core dependencies hold no extra's package; each extra lists its modules' packages."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    optional = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    for extra, modules in EXTRAS.items():
        for module in modules:
            name = DISTRIBUTIONS[module]
            assert name not in core, f"{name} is in the core dependencies"
            assert name is None or name in optional[extra], f"{name} missing from [{extra}]"
    (everything,) = project["optional-dependencies"]["all"]
    assert {"deep", "explain", "readers"} <= set(everything.split("[")[1].rstrip("]").split(","))


def test_require_names_the_package_and_the_install_command(monkeypatch):
    """A missing extra is a LivermetsError with the module and the pip command."""
    assert available("readers")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "shap" else real(name, *a))
    assert not available("explain")
    with pytest.raises(MissingExtraError, match=r"SHAP figures need.*'shap'.*"
                                                r"pip install 'livermets\[explain\]'"):
        require("explain", "SHAP figures")


def test_core_install_runs_the_demo_without_cnn_or_shap(tmp_path):
    """The demo on a core install: radiomics models and report, CNN skipped with the command
    to install it, SHAP replaced by a note; nothing of an extra is imported."""
    result = _core("demo", "--patients", "8", "--workers", "1", "--out", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the CNN is skipped: livermets[deep] is not installed" in result.stderr
    assert "pip install torch==2.13.0" in result.stderr
    report = (tmp_path / "demo" / "report.html").read_text()
    assert "SHAP summary not drawn" in report and "livermets[explain]" in report
    assert "lasso_logistic" in report
    assert not (tmp_path / "demo" / "study" / "models" / "densenet121").exists()


@pytest.mark.parametrize(("args", "extra"), [
    (["readers", "export", "--db", "sqlite:///r.db", "--out", "r.csv"], "readers"),
    (["deep", "predict", "model", "manifest.csv", "--out", "p.csv"], "deep"),
    (["demo", "--cnn", "--out", "d"], "deep"),
])
def test_commands_of_a_missing_extra_exit_2_with_the_install_command(tmp_path, args, extra):
    """Each command of an extra says what to install, without a traceback."""
    (tmp_path / "manifest.csv").write_text("patient_id,image\n")
    (tmp_path / "model").mkdir()
    result = _core(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert f"livermets[{extra}]" in message and "pip install" in message
    assert any(f"optional package '{m}'" in message for m in EXTRAS[extra])


def test_core_install_draws_the_reader_study_report(tmp_path):
    """The reader-study report needs only the statistics (``readers.analysis``), not the web
    app's packages of the readers extra."""
    from livermets.readers.simulate import simulate_ratings

    simulate_ratings(n_readers=3, n_cases=40, seed=0).to_csv(tmp_path / "r.csv", index=False)
    result = _core("report", "readers", "r.csv", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Reader study" in (tmp_path / "out" / "report.html").read_text()
    assert (tmp_path / "out" / "tables" / "reader_mrmc.csv").is_file()
