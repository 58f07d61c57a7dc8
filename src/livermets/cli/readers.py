"""`livermets readers serve|export`: the reader-study web app and its ratings."""

from __future__ import annotations

from pathlib import Path

import typer

from livermets._outputs import check_output_file
from livermets.cli._common import console, new_app, print_json

DEFAULT_DB = "sqlite:///readers.db"


def register(app: typer.Typer) -> None:
    """Add the ``readers`` command group to ``app``."""
    readers = new_app("Reader studies with and without AI: web app and export.")

    @readers.command("serve")
    def serve(
        study: Path = typer.Option(
            ..., "--study", help="READER_STUDY.yaml (`livermets docs readers`)."
        ),
        db: str = typer.Option(DEFAULT_DB, "--db", help="sqlite:///FILE.db or postgresql://..."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8000, "--port", help="Port to listen on."),
        forwarded_allow_ips: str = typer.Option(
            "127.0.0.1", "--forwarded-allow-ips",
            help="TLS proxies whose X-Forwarded-For/-Proto headers are trusted (comma list)."),
    ) -> None:
        """Run the reader-study web app (migrates the database first)."""
        import uvicorn

        from livermets.readers import create_app, load_study_file
        from livermets.readers.server import masked_url, uvicorn_config

        application = create_app(load_study_file(study), db)
        console.print(f"Reader study on http://{host}:{port}/ (database {masked_url(db)})")
        uvicorn.Server(uvicorn_config(application, host, port, forwarded_allow_ips)).run()

    @readers.command("export")
    def export(
        db: str = typer.Option(..., "--db", help="Database URL of the study."),
        out: Path = typer.Option(..., "--out", help="ratings.csv to write."),
        study: str = typer.Option(None, "--study", help="Study name, if the database has several."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Export the ratings (reader, modality, case, truth, rating, time_s, ...) to CSV."""
        from livermets.readers import export_ratings

        check_output_file(out, suffixes=(".csv",))
        frame = export_ratings(db, out, study)
        summary = {"out": str(out), "ratings": len(frame), "readers": frame["reader"].nunique(),
                   "cases": frame["case"].nunique(),
                   "modalities": sorted(frame["modality"].unique())}
        if json_out:
            print_json(summary)
        else:
            console.print(f"{summary['ratings']} ratings of {summary['readers']} readers on "
                          f"{summary['cases']} cases written to {out}")

    app.add_typer(readers, name="readers")
