"""The access area's adapters hold no rule and reach no storage: the API routes and dependencies and the CLI
commands of authentication and accounts import neither ``crms.db`` nor any models module nor a private name
(``tokens._hash``) at run time; token issue/revoke, logout, the first-administrator bootstrap and the unit
of work are services of crms.access."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "crms"
ADAPTERS = ["api/deps.py", "api/routes/auth.py", "api/routes/access.py", "cli/auth.py", "cli/access.py"]


def _imports(path: Path) -> list[tuple[str, str]]:
    out = []
    tree = ast.parse(path.read_text())
    type_checking = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            type_checking.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            out += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names]
    return out


def test_access_adapters_import_no_storage_models_or_private_helpers():
    bad = []
    for rel in ADAPTERS:
        for module, name in _imports(ROOT / rel):
            if (
                module == "crms.db"
                or module.endswith(".models")
                or (name.startswith("_") and module.startswith("crms"))
            ):
                bad.append(f"{rel}: from {module} import {name}")
    assert bad == []


def test_the_api_and_the_cli_share_one_unit_of_work():
    for rel in ("api/deps.py", "cli/auth.py"):
        text = (ROOT / rel).read_text()
        assert "from crms.access.work import" in text, rel
        assert "record_refusal(db, principal" not in text and "except IntegrityError" not in text, rel
