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


def test_only_the_cli_draws_progress_bars():
    """Progress is reported through the callbacks of ``livermets._progress``; only ``cli``
    (``cli/_progress.py``) turns them into rich bars."""
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for path in SRC.rglob("*.py") if "cli" not in path.relative_to(SRC).parts[:1]
        for name in _imports(path) if name == "rich.progress" or name.startswith("rich.progress.")
    )
    assert offenders == []
    progress = {n for n in _imports(SRC / "_progress.py") if n.startswith("livermets")}
    assert progress == set()


def test_the_rule_sees_function_level_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from livermets.cli._common import err_console\n")
    assert "livermets.cli._common" in _imports(sample)
    sample.write_text("def f():\n    from rich.progress import Progress\n")
    assert "rich.progress" in _imports(sample)


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


# the stages from low to high (docs/architecture.md): a module imports only its own stage and
# lower ones, at top level or inside functions
LAYERS = [
    {"livermets", "errors"},
    {"_atomic", "_docs", "_extras", "_networks", "_outputs", "_hashing", "_code", "_registry",
     "_progress"},
    {"_cache"},  # uses _atomic
    {"stats", "io"},
    {"cohort", "datasets"},
    {"lesions", "nn"},  # nn: what the network stages share (grid, intensity, training loop)
    {"radiomics", "segment", "models", "synth", "readers"},
    {"deep"},
    {"study"},
    {"report"},
    {"pipeline", "demo_segment"},
    {"demo"},
    {"cli"},
]
RANK = {stage: rank for rank, stages in enumerate(LAYERS) for stage in stages}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "livermets"


def test_no_stage_imports_a_higher_or_a_sibling_stage():
    """The import graph is one-way: no loops between stages (study <-> report, deep <-> report,
    cohort <-> lesions were loops), and a new stage must be placed in LAYERS."""
    stages = {(p.stem if p.parent == SRC else p.relative_to(SRC).parts[0])
              for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert stages <= set(RANK), sorted(stages - set(RANK))
    offenders = []
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).parts
        own = "livermets" if parts == ("__init__.py",) or parts == ("__main__.py",) else (
            path.stem if len(parts) == 1 else parts[0])
        for name in _imports(path):
            if not name.startswith("livermets"):
                continue
            other = _stage(name)
            if other != own and RANK[other] >= RANK[own] and other != "livermets":
                offenders.append(f"{path.relative_to(SRC)} ({own}) imports {name} ({other})")
    assert offenders == []


# the low-level private modules (layer 1) every stage may import
PRIVATE_MODULES = LAYERS[1] | LAYERS[2]


def _underscore_names(path: Path) -> set[tuple[str, str]]:
    """(module, name) of every name starting with ``_`` that a file imports from livermets (a
    layer-1 private module such as ``from livermets import _atomic`` is not one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                and node.module.split(".")[0] == "livermets"):
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and not (node.module == "livermets" and alias.name in PRIVATE_MODULES):
                found.add((node.module, alias.name))
    return found


def _own_stage(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    if parts in (("__init__.py",), ("__main__.py",)):
        return "livermets"
    return path.stem if len(parts) == 1 else parts[0]


def test_no_stage_uses_another_stages_underscore_name():
    """A name starting with ``_`` is private to its stage: no other stage imports it (the
    layer-1 private modules, ``livermets._atomic``, ``_registry``, ``_cache`` ..., are public to
    every stage)."""
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {name} from {module}"
        for path in SRC.rglob("*.py")
        for module, name in _underscore_names(path)
        if _stage(module) != _own_stage(path)
    )
    assert offenders == []


def test_the_underscore_rule_sees_a_cross_stage_private_import(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("from livermets.segment.monai_model import _foreground_index\n"
                      "from livermets import _atomic\n"
                      "from livermets._cache import load_cached\n"
                      "def f():\n    from livermets.report.segmentation import _fmt_ci\n")
    assert _underscore_names(sample) == {("livermets.segment.monai_model", "_foreground_index"),
                                         ("livermets.report.segmentation", "_fmt_ci")}


def test_deep_does_not_borrow_from_segment():
    """What the network stages share (grid, intensity, the training loop's pieces) is in the
    lower ``nn``: ``deep`` uses of ``segment`` only its QA (lesion matching, Dice, rate CIs) to
    evaluate, and ``nn`` imports neither."""
    qa = {"livermets.segment.matching", "livermets.segment.metrics", "livermets.segment.qa"}
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for stage, banned in (("deep", ("segment",)), ("nn", ("segment", "deep")))
        for path in (SRC / stage).rglob("*.py")
        for name in _imports(path)
        if _stage(name) in banned and not (stage == "deep" and name in qa)
    )
    assert offenders == []
