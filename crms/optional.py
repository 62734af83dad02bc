"""Areas and adapters that are named, not imported: the API's routers, the CLI's command modules, the web
pages, the areas whose rows follow a person merge. Each is imported by name when needed, and skipped when
that module itself is absent (an import error inside a present module still raises). And a package's
public names loaded on first use (:func:`lazy_exports`), so that importing one part does not load them all."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) for public names loaded on first use: NAMES maps
    each name to the submodule that defines it, and a submodule of the package is reached by its own name.
    What is loaded is kept in the package's namespace, so later look-ups skip ``__getattr__``."""
    namespace = vars(sys.modules[package])
    folder = Path(namespace["__file__"]).parent

    def __getattr__(name: str) -> Any:
        if (folder / f"{name}.py").is_file():
            value = importlib.import_module(f"{package}.{name}")
        elif name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
