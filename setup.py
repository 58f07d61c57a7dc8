"""Build step that ships the user guides (docs/*.md) inside the package, for `livermets docs`."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithGuides(build_py):
    """build_py plus docs/*.md copied to livermets/_docs/ (metadata stays in pyproject.toml)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "livermets" / "_docs"
        self.mkpath(str(target))
        for guide in sorted(Path("docs").glob("*.md")):
            self.copy_file(str(guide), str(target / guide.name))


setup(cmdclass={"build_py": BuildWithGuides})
