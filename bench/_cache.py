"""Where the bench scripts keep what they rebuild (extracted templates, generated sets): under the data
directory (``CRMS_DATA_DIR``, default ./data) in ``cache/``, unless a path is given on the command line."""

from __future__ import annotations

from pathlib import Path


def cache_dir(name: str) -> Path:
    from crms.config import get_settings

    return get_settings().data_dir / "cache" / name
