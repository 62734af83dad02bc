"""Helpers shared by the fingerprint commands (``crms fp``, ``crms bench search``, ``crms identify``):
the error exit, the ``--dpi`` option and reading templates or extracting images. Heavy libraries are
imported inside the functions."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on standard error and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_dpi(value: str | None):
    """The ``--dpi`` option (ppi or 'auto'), or the error exit."""
    from crms import fingerprint as fp
    from crms.errors import CrmsError

    try:
        return fp.parse_dpi(value)
    except CrmsError as exc:
        fail(exc.message)


def extract_many(paths: list[Path], dpi, processes: int | None = None) -> list:
    """Extract images in a worker pool (both cores) or in-process for a handful."""
    from crms import fingerprint as fp

    return fp.extract_many(paths, dpi, processes)


def resolution(r) -> dict:
    """Which source resolution an extraction used and why (JSON-ready)."""
    out: dict = {"dpi": r.dpi, "dpi_source": r.dpi_source}
    if getattr(r, "dpi_reason", None):
        out["dpi_reason"] = r.dpi_reason
    return out


def load_templates(paths: list[Path], dpi, notes: dict | None = None) -> dict[Path, object]:
    """Templates for a list of unique paths: template files are read, images extracted."""
    from crms import fingerprint as fp
    from crms.errors import CrmsError

    out: dict[Path, object] = {}
    images = []
    for p in paths:
        if fp.is_template_file(p):
            try:
                out[p] = fp.load_template(p)
            except CrmsError as exc:
                fail(exc.message)
        else:
            images.append(p)
    for p, r in zip(images, extract_many(images, dpi) if images else [], strict=True):
        if r.error:
            fail(r.error)
        out[p] = fp.loads(r.template)
        if notes is not None:
            notes[p] = resolution(r)
    return out
