"""Areas and adapters that are named, not imported: the API's routers, the CLI's command modules, the web
pages, the areas whose rows follow a person merge. Each is imported by name when needed, and skipped when
that module itself is absent (an import error inside a present module still raises)."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
