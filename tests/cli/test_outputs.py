"""Every command that writes checks its output path before any work, through one helper."""

from __future__ import annotations

import os
from typing import Any

import pytest
import typer

from livermets._outputs import check_output_file, check_output_folder
from livermets.errors import ConfigError

# commands whose --out is one file (the others write a folder)
FILE_OUTPUTS = {"deep predict", "deep embed", "features", "lesions", "params convert", "predict",
                "readers export", "study init"}
YAML_OUTPUTS = {"study init", "params convert"}


def _writing_commands() -> list[tuple[str, Any]]:
    """(name, click command) of every livermets command with an --out option."""
    from livermets.cli.main import app

    found = []

    def walk(command: Any, prefix: str) -> None:
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        elif any("--out" in getattr(p, "opts", ()) for p in command.params):
            found.append((prefix, command))

    walk(typer.main.get_command(app), "")
    return found


def _arguments(command: Any, out: str, tmp_path) -> list[str]:
    """Placeholder values for every required parameter (the inputs need not exist) and --out."""
    args: list[str] = []
    for param in command.params:
        if "--out" in getattr(param, "opts", ()):
            args += ["--out", out]
        elif param.name == "template":
            args.append("crlm_vs_hemangioma")
        elif param.required:
            value = str(tmp_path / "in.csv")
            args += [value] if param.param_type_name == "argument" else [param.opts[0], value]
    return args


WRITING = _writing_commands()


def test_every_writing_command_is_covered():
    """The list of writing commands is what the CLI offers (a new command must be added here)."""
    names = {name for name, _ in WRITING}
    folders = {"synth", "demo", "study run", "segment run", "segment train", "segment qa",
               "deep multiphase run", "deep multiphase train", "deep multiphase predict",
               "deep multiphase evaluate", "report cohort", "report readers", "report study",
               "datasets ircadb"}
    assert names == FILE_OUTPUTS | folders
    assert len(names) == 22


@pytest.mark.parametrize("name", [name for name, _ in WRITING])
def test_out_under_a_file_is_refused_up_front(cli, tmp_path, name):
    """--out whose parent is a file: exit 2, the message names the file, nothing created."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    suffix = ".yaml" if name in YAML_OUTPUTS else ".csv" if name in FILE_OUTPUTS else ""
    out = blocker / f"result{suffix}"
    command = dict(WRITING)[name]
    code, output = cli(*name.split(), *_arguments(command, str(out), tmp_path))
    assert code == 2, output
    assert "is a file, not a folder" in output and "notes.txt" in output
    assert "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("name", [name for name, _ in WRITING])
def test_out_of_the_wrong_kind_is_refused(cli, tmp_path, name):
    """A folder given for a file output, or a file for a folder output: exit 2 before work."""
    command = dict(WRITING)[name]
    if name in FILE_OUTPUTS:
        out = tmp_path / ("out.yaml" if name in YAML_OUTPUTS else "out.csv")
        out.mkdir()
        expected = "is an existing folder, but a file is written here"
    else:
        out = tmp_path / "out"
        out.write_text("x")
        expected = "is an existing file, but a folder is written here"
    code, output = cli(*name.split(), *_arguments(command, str(out), tmp_path))
    assert code == 2, output
    assert expected in output


def test_unwritable_folder_is_refused(tmp_path):
    """A read-only place (sysfs refuses even root) and, when not root, a mode-555 folder."""
    with pytest.raises(ConfigError, match="cannot write in /sys"):
        check_output_folder("/sys/livermets-test/out")
    with pytest.raises(ConfigError, match="cannot write in /sys"):
        check_output_file("/sys/livermets-test/out.parquet")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(ConfigError, match="permission denied or read-only"):
            check_output_file(locked / "a" / "out.csv")
        with pytest.raises(ConfigError, match="permission denied or read-only"):
            check_output_folder(locked)


def test_unwritable_out_from_the_cli(cli, tmp_path):
    code, output = cli("synth", "--out", "/sys/livermets-test/cohort", "--patients", "1")
    assert code == 2 and "cannot write in /sys" in output


def test_good_paths_pass_and_create_nothing(tmp_path):
    """Missing folders are fine (created later by the command); the check itself writes nothing."""
    assert check_output_file(tmp_path / "a" / "b" / "t.parquet").name == "t.parquet"
    assert check_output_folder(tmp_path / "x" / "y") == tmp_path / "x" / "y"
    (tmp_path / "exists").mkdir()
    assert check_output_folder(tmp_path / "exists") == tmp_path / "exists"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists"]
    with pytest.raises(ConfigError, match=r"use a \.parquet or \.csv file name"):
        check_output_file(tmp_path / "t.xlsx")
