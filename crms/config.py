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

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    data_dir = Path(os.environ.get("CRMS_DATA_DIR", "./data")).resolve()
    url = os.environ.get("CRMS_DATABASE_URL") or f"sqlite:///{data_dir / 'crms.sqlite3'}"
    return Settings(
        data_dir=data_dir,
        database_url=url,
        data_key=os.environ.get("CRMS_DATA_KEY"),
        secret_key=os.environ.get("CRMS_SECRET_KEY"),
        environment=os.environ.get("CRMS_ENV", "development"),
    )
