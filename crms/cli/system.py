"""System commands: ``crms serve`` and ``crms db upgrade``."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(db_app, name="db")


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    enrol_worker: bool = typer.Option(
        True,
        "--enrol-worker/--no-enrol-worker",
        help="Extract templates of captured prints in the background.",
    ),
) -> None:
    """Run the web server (API under /api/v1, OpenAPI docs at /api/docs)."""
    import uvicorn

    from crms.api.app import create_app

    app = create_app()
    worker = None
    if enrol_worker:  # captured prints are enrolled by the server itself (crms.biometrics.worker)
        from crms.biometrics.worker import EnrolWorker

        worker = app.state.enrol_worker = EnrolWorker.from_settings(app.state.db, app.state.settings).start()
    try:
        uvicorn.run(app, host=host, port=port)
    finally:
        if worker is not None:
            worker.stop()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the database schema to REVISION (default: head)."""
    from crms.config import get_settings
    from crms.db import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {settings.database_url.split('@')[-1]}")
    if revision == "head":  # reference data (districts, police stations, statutes) is part of a usable schema
        from crms.cli.reference import load_into

        load_into(settings.database_url)
