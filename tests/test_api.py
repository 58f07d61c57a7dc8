"""The package-level Python API: every public name resolves lazily, `import livermets` stays
light, and the example of docs/api.md runs as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import livermets

DOCS = Path(__file__).parents[1] / "docs" / "api.md"


def test_every_public_name_resolves_to_its_stage():
    """Each name of livermets.__all__ is importable and is the object of its owning module."""
    import importlib

    for name, module in livermets._API.items():
        assert getattr(livermets, name) is getattr(importlib.import_module(module), name)
    assert livermets.stats.roc_auc is importlib.import_module("livermets.stats").roc_auc
    assert set(livermets.__all__) == {"__version__", *livermets._API, *livermets._MODULES}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        livermets.nope  # noqa: B018


def test_import_livermets_imports_no_stage():
    """`import livermets` loads neither pandas nor SimpleITK nor any stage."""
    code = ("import sys, livermets; heavy = [m for m in ('pandas', 'SimpleITK', 'sklearn', "
            "'livermets.study', 'livermets.radiomics') if m in sys.modules]; print(heavy)")
    env = {**os.environ, "PYTHONPATH": str(Path(livermets.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_docs_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The docs' notebook example: cohort, lesions, features, study, AUC, frozen model."""
    block = DOCS.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, str(DOCS), "exec"), scope)
    features, new, auc = scope["features"], scope["new"], scope["auc"]
    lesions = scope["lesions"]
    assert len(features) == len(lesions) == len(new) > 0
    assert sum(c.startswith("original_") for c in features.columns) > 50
    assert 0.0 <= auc.ci[0] <= auc.auc <= auc.ci[1] <= 1.0
    assert set(new["y_pred"]) <= {"metastasis", "hemangioma"}
    assert new["y_prob"].between(0, 1).all()
    assert "cross-validated AUC" in capsys.readouterr().out
