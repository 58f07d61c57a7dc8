"""`livermets study init|run` and `livermets predict`: thin wrappers over livermets.study."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from livermets._outputs import check_output_file, check_output_folder
from livermets.cli._common import console, err_console, new_app, print_json
from livermets.errors import ConfigError


def template_names() -> list[str]:
    """Names of the study templates shipped in ``livermets/templates``."""
    folder = resources.files("livermets") / "templates"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def template_title(name: str) -> str:
    """The ``title:`` of a shipped template."""
    text = (resources.files("livermets") / "templates" / f"{name}.yaml").read_text()
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("title:")), "")


# LoG + wavelet radiomics time over original-only on one synthetic lesion + 5 mm ring
# (benchmarks/filter_cost.py, seed-ct-liver vs seed-ct-liver-original, median of 3: 19.7x and
# 17.8x for 27 and 34 mm lesions, 8.5x for a 49 mm one)
FILTER_SLOWDOWN = "about 10-20x"


def template_speed(name: str) -> str:
    """'' or a label saying that the template's radiomics preset adds slower filtered images."""
    import yaml

    from livermets.radiomics import preset_names, preset_params

    text = (resources.files("livermets") / "templates" / f"{name}.yaml").read_text()
    preset = ((yaml.safe_load(text) or {}).get("data") or {}).get("radiomics_params")
    if preset not in preset_names():
        return ""
    filters = [f for f in preset_params(preset).extraction.image_types.enabled()
               if f != "original"]
    if not filters:
        return ""
    names = " + ".join("LoG" if f == "log" else f for f in filters)
    return f"[slower: {preset} adds {names} features, {FILTER_SLOWDOWN} the extraction time]"


def init(
    template: str | None = typer.Argument(None, help="Template name (see --list)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write (default TEMPLATE.yaml)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    list_templates: bool = typer.Option(False, "--list", help="List the templates and exit."),
) -> None:
    """Write a study template to edit: crlm_vs_hemangioma, crc_vs_pdac_origin, ..."""
    from livermets._atomic import write_text

    names = template_names()
    if list_templates:
        for name in names:
            speed = template_speed(name)
            typer.echo(f"{name:<26} {template_title(name)}" + (f"  {speed}" if speed else ""))
        return
    if template is None:
        raise ConfigError(f"name a template: one of {', '.join(names)} (or pass --list).")
    if template not in names:
        raise ConfigError(f"unknown template {template!r}: use one of {', '.join(names)}")
    target = check_output_file(out or Path(f"{template}.yaml"), suffixes=(".yaml", ".yml"))
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite or --out another file.")
    text = (resources.files("livermets") / "templates" / f"{template}.yaml").read_text()
    write_text(target, text)
    console.print(f"wrote {target}: edit data.features (or data.manifest), then run "
                  f"`livermets study run {target} --out DIR`", highlight=False)


def run(
    config: Path = typer.Argument(..., help="Study YAML."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Processes for outer folds (default compute.workers)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", metavar="ADDRESS",
        help="Dask scheduler (tcp://HOST:PORT) for outer folds (default compute.scheduler)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Run a study: predictions, metrics, models and report in OUT (cached stages)."""
    from livermets._outputs import folder_size
    from livermets.pipeline import run_study

    check_output_folder(out)
    say = None if as_json else (lambda m: err_console.print(m, highlight=False))
    result = run_study(config, out, workers=workers, progress=say or False,
                       on_stage=None if as_json else lambda s: err_console.print(f"[bold]{s}"),
                       scheduler=scheduler)
    summary = {
        "out": str(out), "report": str(result.report_path),
        "predictions": str(out / "predictions.parquet"), "metrics": str(out / "metrics.json"),
        "models": {name: str(f.folder) for name, f in result.finals.items()},
        "auc": {name: _headline(entry) for name, entry in result.metrics["models"].items()},
        "timings": result.timings, "cached": result.cache_hits,
        "cache": str(out / "cache"), "cache_mb": round(folder_size(out / "cache") / 1e6, 1),
    }
    if as_json:
        print_json(summary)
        return
    for name, auc in summary["auc"].items():
        console.print(f"{name}: AUC {auc}", highlight=False)
    console.print(f"report: {result.report_path}", highlight=False)
    console.print(f"cache: {summary['cache_mb']:g} MB in {summary['cache']} (what a re-run "
                  "reuses; delete it to free the space)", highlight=False)


def _headline(entry: dict) -> float | None:
    """The AUC (or macro AUC) of the first split of a model's metrics."""
    first = next(iter(entry["splits"].values()))
    return first.get("auc", {}).get("auc") if "auc" in first else first.get("macro_auc")


def predict(
    model_dir: Path = typer.Argument(..., help="A model folder: DIR/models/NAME."),
    input_path: Path = typer.Argument(..., help="Feature table (CSV/Parquet) or cohort manifest."),
    out: Path = typer.Option(..., "--out", help="Predictions table (.parquet or .csv)."),
    aggregation: str = typer.Option("max", "--aggregation",
                                    help="Patient level: max, mean, largest or vote."),
    workers: int = typer.Option(1, "--workers", min=1, help="Radiomics worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Apply a frozen model to new cases; refuses inputs whose features or params differ."""
    from livermets.study.predict import predict as run_predict

    check_output_file(out)
    summary = run_predict(model_dir, input_path, out, aggregation, workers)
    message = (summary.get("ood") or {}).get("message")
    if message:
        err_console.print(message, highlight=False, markup=False, soft_wrap=True)
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {summary['out']} ({summary['rows']} rows)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``study`` group (init, run) and the ``predict`` command to ``app``."""
    study_app = new_app("Studies: write a template, run it end to end.")
    study_app.command("init")(init)
    study_app.command("run")(run)
    app.add_typer(study_app, name="study")
    app.command("predict")(predict)
