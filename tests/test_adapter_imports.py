"""Adapters hold no rule and reach no storage, read from the source: no module of ``crms/api``, ``crms/cli``,
``crms/web`` or ``crms/sms`` imports ``crms.db``, a ``models`` module, SQLAlchemy (beyond the ``Session`` type
that a service receives) or a private ``_name`` of another crms module. What still does is listed in
ALLOWED with its reason; the list only shrinks (an entry that no longer matches fails too, so it is removed
when its import goes)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("crms/api", "crms/cli", "crms/web", "crms/sms")


# (file, module, name) -> why it is still there.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("crms/api/app.py", "crms.db", "Database"): "composition root: builds the server's Database",
    ("crms/api/params.py", "crms.db", "MAX_ID"): "the id range of the schema, a constant",
    ("crms/cli/system.py", "crms.db", "upgrade"): "crms db upgrade runs the migrations (a storage service "
    "for it would belong in crms.db itself)",
}


def _own_module(rel: str) -> str:
    return rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def _violations(path: Path, rel: str | None = None) -> set[tuple[str, str, str]]:
    rel = rel or path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    type_checking = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            type_checking.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            pairs = [(a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            pairs = [(node.module, a.name) for a in node.names]
        else:
            continue
        for module, name in pairs:
            if (
                module == "crms.db"
                or module.startswith("crms.db.")
                or module.endswith(".models")
                or (module.startswith("sqlalchemy") and name != "Session")
                or (
                    name.startswith("_")
                    and module.startswith("crms")
                    and module != _own_module(rel)
                    and name != "__version__"
                )
            ):
                found.add((rel, module, name))
    return found


def _all_violations() -> set[tuple[str, str, str]]:
    files = [f for d in ADAPTERS for f in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) >= 20
    return {v for f in files for v in _violations(f)}


def test_the_reader_sees_every_form(tmp_path):
    """The check itself: top-level and nested imports, TYPE_CHECKING blocks skipped, own privates allowed."""
    src = tmp_path / "x.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "import crms.db\n"
        "from sqlalchemy.orm import Session\n"
        "if TYPE_CHECKING:\n"
        "    from crms.records.models import Person\n"
        "def f():\n"
        "    from crms.access.models import User\n"
        "    from crms.access.tokens import _hash\n"
        "    from crms.cli.x import _mine\n"
        "    from sqlalchemy import select\n"
    )
    assert _violations(src, "crms/cli/x.py") == {
        ("crms/cli/x.py", "crms.db", ""),
        ("crms/cli/x.py", "crms.access.models", "User"),
        ("crms/cli/x.py", "crms.access.tokens", "_hash"),
        ("crms/cli/x.py", "sqlalchemy", "select"),
    }


def test_adapters_import_no_storage_models_or_private_helpers():
    new = sorted(_all_violations() - set(ALLOWED))
    assert new == [], "adapters must reach storage and rules through services:\n" + "\n".join(
        f"{f}: from {m} import {n}" for f, m, n in new
    )


def test_the_allow_list_only_shrinks():
    stale = sorted(set(ALLOWED) - _all_violations())
    assert stale == [], "no longer imported, remove from ALLOWED:\n" + "\n".join(map(str, stale))
