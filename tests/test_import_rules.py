"""Import rules of the package, read from the source (top-level and function-level imports)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "livermets"


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_cli_imports_the_cli():
    """The library reports progress through callbacks the CLI passes down, never via cli."""
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for path in SRC.rglob("*.py") if "cli" not in path.relative_to(SRC).parts[:1]
        for name in _imports(path) if name == "livermets.cli" or name.startswith("livermets.cli.")
    )
    assert offenders == []


def test_the_rule_sees_function_level_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from livermets.cli._common import err_console\n")
    assert "livermets.cli._common" in _imports(sample)


def test_radiomics_and_segment_never_import_models():
    """The plug-in registry is low level (``livermets._registry``), so the stages below models
    use it without importing models."""
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for stage in ("radiomics", "segment")
        for path in (SRC / stage).rglob("*.py")
        for name in _imports(path)
        if name == "livermets.models" or name.startswith("livermets.models.")
    )
    assert offenders == []
    registry = {n for n in _imports(SRC / "_registry.py") if n.startswith("livermets")}
    assert registry == {"livermets.errors"}
