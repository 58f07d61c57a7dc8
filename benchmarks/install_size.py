"""Installed size of livermets' core and of each extra, read off the current environment: the
dependency closure of each requirement set (markers evaluated) and the bytes of the files each
distribution installed. Usage: python benchmarks/install_size.py (nothing is installed)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pandas as pd
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]


def _size(dist: metadata.Distribution) -> int:
    """Bytes of the files one distribution installed."""
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def closure(requirements: list[str], installed: dict[str, metadata.Distribution]) -> set[str]:
    """Installed distributions needed by ``requirements``, transitively."""
    todo = [(Requirement(r), ()) for r in requirements]
    seen: set[str] = set()
    while todo:
        req, extras = todo.pop()
        env = {"extra": extras[0] if extras else ""}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        if name == "livermets" or name not in installed:
            continue
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for sub in installed[name].requires or []:
            sub_req = Requirement(sub)
            if sub_req.marker is None or sub_req.marker.evaluate({"extra": ""}) or any(
                    sub_req.marker.evaluate({"extra": e}) for e in req.extras):
                todo.append((sub_req, tuple(req.extras)))
    return {k.split("[", 1)[0] for k in seen}


def main() -> None:
    """Print the size table."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    sizes = {name: _size(d) for name, d in installed.items()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    core = closure(project["dependencies"], installed)
    rows = []

    def row(label: str, names: set[str]) -> None:
        rows.append({"install": label, "distributions": len(names),
                     "MB": round(sum(sizes.get(n, 0) for n in names) / 1e6)})

    row("core: pip install livermets", core)
    for extra in ("deep", "explain", "readers", "pg", "tracking", "ibsi", "totalseg"):
        extra_reqs = [r for r in optional[extra] if not r.startswith("livermets")]
        names = closure(extra_reqs, installed) - core
        if extra == "deep":
            names |= closure(["torch"], installed) - core
        row(f"  + [{extra}] adds", names)
    before = core | closure(optional["deep"] + optional["explain"] + optional["readers"]
                            + ["torch"], installed)
    row("before (one install: core + deep + explain + readers, as every install was)", before)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
