"""Configuration from environment variables (read once per call to :func:`get_settings`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    # Key material for encrypting biometric files at rest (base64 of 32 bytes); generated into the
    # data dir on first use when not configured (see crms.access.crypto).
    data_key: str | None
    secret_key: str | None
    environment: str
    # Key that anchors the audit chain (base64 of 32 bytes); generated into <data dir>/keys/audit.key when not
    # configured (see crms.access.audit).
    audit_key: str | None = None
    # The 1:N gallery's snapshot (a cache of the fingerprints table, sealed with the data key) under the data
    # dir; CRMS_GALLERY_SNAPSHOT=off turns it off (every start then reads the table).
    gallery_snapshot: bool = True
    # The matcher's compiled kernels made ready when a server starts, in the background (crms.api.app): on
    # in get_settings (what `crms serve` reads) unless CRMS_WARM_MATCHER=off, which leaves them to the first
    # search or comparison; off in settings made in code (tests, scripts), which start no compiler process.
    warm_matcher: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def gallery_snapshot_path(self) -> Path | None:
        return self.data_dir / "gallery" / "snapshot" if self.gallery_snapshot else None


def env_number(name: str, default: float, low: float, high: float, unit: str) -> float:
    """A number setting from the environment (``default`` when unset or empty); a malformed or out-of-range
    value raises ValueError naming the variable."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of {unit}, not {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value


def get_settings() -> Settings:
    data_dir = Path(os.environ.get("CRMS_DATA_DIR", "./data")).resolve()
    url = os.environ.get("CRMS_DATABASE_URL") or f"sqlite:///{data_dir / 'crms.sqlite3'}"
    return Settings(
        data_dir=data_dir,
        database_url=url,
        data_key=os.environ.get("CRMS_DATA_KEY"),
        secret_key=os.environ.get("CRMS_SECRET_KEY"),
        environment=os.environ.get("CRMS_ENV", "development"),
        audit_key=os.environ.get("CRMS_AUDIT_KEY"),
        gallery_snapshot=env_switch("CRMS_GALLERY_SNAPSHOT"),
        warm_matcher=env_switch("CRMS_WARM_MATCHER"),
    )


def env_switch(name: str) -> bool:
    """An on/off setting from the environment, on unless set to off, 0, no or false."""
    return os.environ.get(name, "on").strip().lower() not in ("off", "0", "no", "false")


# The data directory holds password hashes, TOTP secrets, keys and every personal record: nobody but the
# service account may read it. Directories 0700, files 0600.
PRIVATE_UMASK = 0o077


def restrict_new_files() -> int:
    """Make files and directories this process creates from now on private to its user (umask 077); returns
    the previous umask. Called by the ``crms`` command and ``crms serve`` before anything is created."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; an existing directory is left as it is."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.chmod(0o700)  # mkdir's mode is reduced by the umask, never widened; make it exact
    return path
