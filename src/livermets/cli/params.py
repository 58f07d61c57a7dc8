"""``livermets params ...``: radiomics parameter files (pyradiomics' own converted)."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from livermets._atomic import write_text
from livermets._outputs import check_output_file
from livermets.cli._common import console, new_app, print_json

app = new_app("Radiomics parameter files: convert pyradiomics' own into livermets' schema.")


@app.command("convert")
def convert(
    source: Path = typer.Argument(
        ..., help="A pyradiomics parameter file (imageType / featureClass / setting), e.g. "
        "pyradiomics' exampleCT.yaml."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the livermets parameter YAML here (default: print it)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Convert a pyradiomics parameter file into a livermets one (same features); a setting
    livermets cannot honour is an error naming it."""
    from livermets.errors import ConfigError
    from livermets.radiomics.params import params_from_dict, read_params_file
    from livermets.radiomics.pyradiomics_params import (
        is_pyradiomics_params,
        pyradiomics_to_livermets,
    )

    if out is not None:
        check_output_file(out, suffixes=(".yaml", ".yml"))
    data = read_params_file(source)
    if not is_pyradiomics_params(data):
        raise ConfigError(
            f"{source} is not a pyradiomics parameter file (no imageType, featureClass or "
            "setting section); a livermets parameter file needs no conversion."
        )
    converted = pyradiomics_to_livermets(data, str(source))
    params = params_from_dict(converted, source=str(source))  # the result must load
    text = (
        f"# converted by `livermets params convert` from the pyradiomics file {source.name}\n"
        + yaml.safe_dump(converted, sort_keys=False)
    )
    if out is not None:
        write_text(out, text)
    if as_json:
        print_json({"source": str(source), "out": str(out) if out else None,
                    "params_hash": params.params_hash(), "params": converted})  # fmt: skip
    elif out is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"{source} -> {out} (params hash {params.params_hash()})")
