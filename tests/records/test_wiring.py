"""The records area imports no other area: other areas' rows follow a merge through participants that the
composition roots (the API application, the CLI) register."""

from __future__ import annotations

import ast
from pathlib import Path

import crms.records

OTHER_AREAS = (
    "crms.biometrics",
    "crms.fingerprint",
    "crms.faces",
    "crms.search",
    "crms.exchange",
    "crms.sms",
)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("crms.")
        ):
            names.add(node.value.partition(":")[0])  # a module named by string
    return names


def test_records_imports_no_other_area_not_even_by_name():
    root = Path(crms.records.__file__).parent
    found = {
        (str(path.relative_to(root)), name)
        for path in root.rglob("*.py")
        for name in _imports(path)
        if name.startswith(OTHER_AREAS)
    }
    assert found == set()


def test_the_api_registers_the_fingerprints_as_a_merge_participant(app):
    from crms.biometrics.enrolment import follow_merge
    from crms.records.participants import merge_participants

    assert follow_merge in merge_participants()


def test_the_cli_registers_the_fingerprints_as_a_merge_participant():
    from crms.cli import main
    from crms.records.participants import merge_participants

    assert main._fingerprints_follow_merge in merge_participants()


def test_the_lazy_services_package_gives_its_submodules_too():
    """crms.records.services loads its modules on first use (CLI start-up); a submodule is reached as an
    attribute as before the split (bench/records_bench.py uses services.names)."""
    from crms.records import services

    assert services.names.likely_duplicates is services.likely_duplicates
    assert services.guard.__name__ == "crms.records.services.guard"
