"""The guides travel with the package (`livermets docs`), and no message points at a repo file."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livermets.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
# files a `pip install livermets` does not have: repo docs, the constraints file, the design notes
REPO_ONLY = re.compile(r"docs/\w+\.md|constraints\.txt|DESIGN\.md|STACK\.md")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_user_message_points_at_a_file_pip_installs_lack() -> None:
    offenders = []
    for path in sorted((ROOT / "src" / "livermets").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in skip and REPO_ONLY.search(node.value)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []


def test_docs_lists_and_prints_the_guides() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["docs"])
    assert listed.exit_code == 0, listed.output
    for topic in ("radiomics", "readers", "models", "api"):
        assert topic in listed.output
    shown = runner.invoke(app, ["docs", "radiomics"])
    assert shown.exit_code == 0
    assert shown.output == (ROOT / "docs" / "radiomics.md").read_text(encoding="utf-8")
    unknown = runner.invoke(app, ["docs", "nosuchguide"])
    assert unknown.exit_code == 2
    assert "no guide called 'nosuchguide'" in unknown.output
    assert "Traceback" not in unknown.output


@pytest.mark.slow
def test_wheel_ships_the_guides(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("livermets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    guides = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert guides and {f"livermets/_docs/{g}" for g in guides} <= names
