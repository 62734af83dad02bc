"""System commands: ``crms serve`` and ``crms db upgrade``."""

from __future__ import annotations

from pathlib import Path

import typer

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(db_app, name="db")


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Server processes (each one core's worth of requests); e.g. the number of cores.",
    ),
    certfile: Path = typer.Option(
        None, exists=True, dir_okay=False, help="TLS certificate (PEM) to serve HTTPS directly."
    ),
    keyfile: Path = typer.Option(
        None, exists=True, dir_okay=False, help="TLS private key (PEM) of --certfile."
    ),
    access_log: bool = typer.Option(
        True, help="Log each request (method, path without query string, status)."
    ),
    enrol_worker: bool = typer.Option(
        True,
        "--enrol-worker/--no-enrol-worker",
        help="Extract templates of captured prints in the background (one worker per server).",
    ),
) -> None:
    """Run the web server (API under /api/v1, OpenAPI docs at /api/docs).

    HTTPS: give --certfile/--keyfile, or (usual in production) run behind a reverse proxy that terminates TLS
    and sends X-Forwarded-Proto (trusted from 127.0.0.1). Plain HTTP is for a demo on this machine."""
    import uvicorn

    from crms.api.serving import log_config
    from crms.config import get_settings, private_dir, restrict_new_files
    from crms.errors import ValidationError

    restrict_new_files()  # the database, keys, stores and logs this server creates: 0600 / 0700
    if (certfile is None) != (keyfile is None):
        raise typer.BadParameter("give both --certfile and --keyfile", param_hint="--certfile/--keyfile")
    if workers > 1:  # the settings first, then the database
        from crms.api.workers import defer_seconds

        try:
            defer_seconds()
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="CRMS_WORKER_HANDOFF_MS") from None
    settings = get_settings()
    private_dir(settings.data_dir)
    from crms.access.work import database_not_ready

    if (why := database_not_ready(settings)) is not None:  # every request would fail: do not start
        typer.echo(f"error: {why.message}", err=True)
        raise typer.Exit(3)
    try:
        _prepare(settings)  # keys made once here, not raced by the workers
    except ValidationError as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.field) from None
    worker = None
    if enrol_worker:  # captured prints are enrolled by the server itself (crms.biometrics.worker)
        from crms.biometrics.worker import start_for_server

        worker = start_for_server(settings)
    options = dict(
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_config=log_config(),
        access_log=access_log,
        proxy_headers=True,
        server_header=False,
    )
    try:
        from crms.api.workers import run_workers

        if workers > 1:  # each connection to the least busy worker (crms.api.workers)
            run_workers(uvicorn.Config("crms.api.app:create_served_app", **options))
        else:
            uvicorn.run("crms.api.app:create_served_app", **options)
    finally:
        if worker is not None:
            worker.stop()


def _prepare(settings) -> None:
    """Keys the workers share, created before they start."""
    from crms.access.audit import audit_key
    from crms.access.crypto import load_data_key
    from crms.access.sessions import load_secret

    audit_key(settings.data_dir)
    load_data_key(settings.data_dir, settings.data_key)
    load_secret(settings.secret_key, settings.data_dir)


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
