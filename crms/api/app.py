"""The FastAPI application: versioned under /api/v1, OpenAPI at /api/docs. Each area adds a router module
to ROUTERS; routes stay thin and call services."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI

from crms.access.audit import bind_data_dir
from crms.access.ratelimit import check_limits
from crms.access.tokens import cache_seconds as token_cache_seconds
from crms.api.params import reject_unknown_query
from crms.api.problems import install_problem_handlers
from crms.api.serving import BodyLimit, LoopbackDemoCookies, install_docs
from crms.config import Settings, get_settings
from crms.db import Database
from crms.optional import optional_module
from crms.timeutil import office_zone

_log = logging.getLogger("uvicorn.error")  # the server's own log, as uvicorn configures it

# Modules that define `router: fastapi.APIRouter` (mounted under /api/v1).
ROUTERS = [
    "crms.api.routes.auth",
    "crms.api.routes.records",
    "crms.api.routes.biometrics",
    "crms.api.routes.reference",
    "crms.api.routes.access",
    "crms.api.routes.audit",
    "crms.api.routes.identify",  # 1:N identification, duplicate enrolments
    "crms.api.routes.fingerprint_marks",  # fingers that cannot be printed
    "crms.api.routes.photos",  # photos of a person
]


def wire_areas() -> None:
    """Composition root: the areas whose rows follow a person merge (records imports no other area), and the
    registry of units that accounts are checked against."""
    from crms.biometrics.enrolment import follow_merge
    from crms.records.participants import register_merge_participant

    register_merge_participant(follow_merge)
    from crms.faces.photos import follow_merge as photos_follow_merge

    register_merge_participant(photos_follow_merge)
    from crms.access.units import register_unit_registry
    from crms.records.reference.lookups import current_units

    register_unit_registry(current_units)  # accounts name units that exist (access imports no other area)


def wire_gallery(db: Database, settings: Settings) -> None:
    """Composition root: where the 1:N gallery of ``db`` keeps its snapshot (the data dir) and its key."""
    from crms.access.crypto import load_data_key
    from crms.biometrics.identification import bind_snapshot

    path = settings.gallery_snapshot_path
    bind_snapshot(db, path, load_data_key(settings.data_dir, settings.data_key) if path else None)


def warm_matcher_in_background(lock: Path) -> threading.Thread:
    """The matcher's compiled kernels made ready (compiled, or loaded from numba's cache) in a daemon thread,
    so that after an install or upgrade the first search or comparison does not wait about a minute for
    them (docs/BENCHMARKS.md, "First use after an install"). A compilation runs in a child process, so
    requests meanwhile are served at nearly their usual pace, and the server process only loads the cache
    the child wrote. The worker processes of one server take turns on the LOCK file: one child compiles
    (about 700 MB at its peak) and the other workers then load from the cache."""

    def warm() -> None:
        import fcntl

        from crms.fingerprint import warm_matcher_via_child

        try:
            lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(lock, "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
                _log.info("Matcher kernels ready in %.1f s.", warm_matcher_via_child())
        except Exception:  # a failure here only leaves the first search to compile them
            _log.exception("warming the matcher's kernels failed")

    thread = threading.Thread(target=warm, name="crms-warm-matcher", daemon=True)
    thread.start()
    return thread


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if app.state.settings.warm_matcher:
        app.state.matcher_warm = warm_matcher_in_background(app.state.settings.data_dir / "matcher-warm.lock")
    yield
    import sys

    identification = sys.modules.get("crms.biometrics.identification")
    if identification is not None:  # an orderly stop writes the gallery's snapshot if it changed
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(identification.save_snapshots)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_limits()  # a malformed CRMS_RATE_* stops the start, naming the variable
    token_cache_seconds()  # ... and so does a malformed CRMS_TOKEN_CACHE_SECONDS
    office_zone()  # ... and an unknown CRMS_TIMEZONE
    app = FastAPI(
        lifespan=_lifespan,
        title="CRMS",
        version="1",
        docs_url=None,  # served from an installed package, not a CDN: crms.api.serving.install_docs
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database or Database(settings.database_url)
    bind_data_dir(app.state.db, settings.data_dir)  # where the audit-head file lives
    wire_gallery(app.state.db, settings)  # the gallery's snapshot in the data dir
    install_problem_handlers(app)
    install_docs(app, "/api/openapi.json")
    app.add_middleware(BodyLimit, fastapi_app=app)  # body limits and credentials before a body is read
    app.add_middleware(LoopbackDemoCookies)  # plain-HTTP localhost demo: cookies without Secure
    wire_areas()
    for name in ROUTERS:
        module = optional_module(name)
        if module is not None:
            # unknown query parameters are refused (422 naming them) on every API route
            app.include_router(module.router, prefix="/api/v1", dependencies=[Depends(reject_unknown_query)])
    web = optional_module("crms.web.app")  # browser pages (web adapter), if present
    if web is not None:
        web.install(app)
    return app


def create_served_app() -> FastAPI:
    """The application as ``crms serve`` runs it (one in each server process): :func:`create_app`, then
    everything it holds at that point (modules, routes, models, tables: about 150,000 objects) is taken out of
    the garbage collector's reach (``gc.freeze``). Otherwise each full collection (one every few tens of
    thousands of surviving objects) walks all of them, 50-80 ms here during which that process answers
    nobody, added to the latency of every request in flight (docs/BENCHMARKS.md, CNIC lookups under load).
    Only cycles among those objects that become garbage later are never freed; the application lives as
    long as its process."""
    import gc

    app = create_app()
    gc.collect()
    gc.freeze()
    return app
