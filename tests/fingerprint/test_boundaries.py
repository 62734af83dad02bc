"""The engine's boundaries, read from the source: crms.fingerprint imports nothing from storage, access,
records or the adapters, and everything outside it uses the engine only through ``crms.fingerprint``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "crms" / "fingerprint"
FORBIDDEN = (
    "crms.db",
    "crms.access",
    "crms.records",
    "crms.biometrics",
    "crms.api",
    "crms.web",
    "crms.cli",
    "crms.sms",
    "crms.demo",
    "sqlalchemy",
    "fastapi",
)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import statement, nested ones included."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    else:
        package = package.removesuffix(".__init__")
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            out.append((node.lineno, base, [a.name for a in node.names]))
    return out


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_import_reader_sees_every_form(tmp_path):
    """The check itself: plain, from, nested and relative imports are all read."""
    pkg = ROOT / "crms" / "fingerprint" / "synthesis" / "master.py"
    found = {m for _, m, _ in _imports(pkg)}
    assert "crms.fingerprint.synthesis" in found and "numpy" in found
    assert ("crms.fingerprint.synthesis.ridges", ["grow_ridges"]) in [(m, n) for _, m, n in _imports(pkg)]


def test_engine_imports_nothing_from_storage_access_records_or_adapters():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= 15
    bad = [
        f"{f.relative_to(ROOT)}:{line}: {mod}"
        for f in files
        for line, mod, _ in _imports(f)
        if any(_under(mod, p) for p in FORBIDDEN)
    ]
    assert not bad, "the fingerprint engine must not import these:\n" + "\n".join(bad)


def test_outside_the_engine_only_the_facade_is_imported():
    """crms/* outside crms/fingerprint imports ``crms.fingerprint`` and names from its ``__all__`` only
    (tests and bench/ may reach inside)."""
    import crms.fingerprint as facade

    public = set(facade.__all__)
    files = [f for f in sorted((ROOT / "crms").rglob("*.py")) if ENGINE not in f.parents]
    bad = []
    for f in files:
        for line, mod, names in _imports(f):
            where = f"{f.relative_to(ROOT)}:{line}"
            if _under(mod, "crms.fingerprint") and mod != "crms.fingerprint":
                bad.append(f"{where}: imports {mod} (use crms.fingerprint)")
            elif mod == "crms" and "fingerprint" in names:
                continue
            elif mod == "crms.fingerprint":
                bad += [f"{where}: crms.fingerprint has no public {n}" for n in names if n not in public]
    assert not bad, "\n".join(bad)


def test_every_public_name_resolves():
    import crms.fingerprint as facade

    pytest.importorskip("numba")
    for name in facade.__all__:
        assert getattr(facade, name) is not None, name


def test_importing_the_facade_loads_no_heavy_library():
    code = (
        "import sys, crms.fingerprint, crms.biometrics.enrolment\n"
        "heavy = [m for m in ('numpy', 'numba', 'cv2', 'onnxruntime', 'onnx', 'pyfing', 'torch', 'keras',"
        " 'scipy', 'h5py') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"imported at start: {out.stdout.strip()}"


ENGINE_LIBRARIES = (
    "numpy",
    "numba",
    "llvmlite",
    "cv2",
    "scipy",
    "onnxruntime",
    "onnx",
    "pyfing",
    "torch",
    "keras",
)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["lookup", "--help"], ["lookup", "3520212345671", "--json"], ["fp", "--help"]],
    ids=["help", "lookup-help", "lookup", "fp-help"],
)
def test_cli_commands_without_fingerprints_load_no_engine_library(argv, tmp_path):
    """CLI start-up stays light: the engine's libraries load only in commands that extract or match
    (``lookup`` here runs without a login, so it stops at authentication after importing its code)."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['crms', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('crms.cli.main', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', [m for m in {ENGINE_LIBRARIES!r} if m in sys.modules])\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CRMS_")}
    env["CRMS_DATA_DIR"] = str(tmp_path / "data")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    loaded = [line for line in out.stdout.splitlines() if line.startswith("LOADED")]
    assert loaded == ["LOADED []"], out.stdout[-2000:] + out.stderr[-2000:]
