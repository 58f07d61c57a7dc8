"""Run the livermets CLI as a core install sees it: the optional extras' modules cannot be
imported. Usage: python tests/without_extras.py ARGS... (the test of core installs uses it)."""

from __future__ import annotations

import importlib.abc
import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # tests/radiomics would shadow pyradiomics' `radiomics`

from livermets._extras import EXTRAS

BLOCKED = {m for modules in EXTRAS.values() for m in modules} | {"numba", "starlette"}


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuse every module of an optional extra, as if it were not installed."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if __name__ == "__main__":
    for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, _Blocker())
    sys.argv = ["livermets", *sys.argv[1:]]
    from livermets.cli.main import main

    main()
