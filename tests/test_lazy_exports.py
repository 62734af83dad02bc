"""A package's public names loaded on first use (crms.optional.lazy_exports), on a package written here."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from crms.optional import lazy_exports\n"
        "_SUBMODULES = {'answer': 'numbers'}\n"
        "__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES)\n"
    )
    (root / "numbers.py").write_text("answer = 42\n")
    (root / "other.py").write_text("word = 'x'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("lazypkg")
    for name in [m for m in sys.modules if m == "lazypkg" or m.startswith("lazypkg.")]:
        del sys.modules[name]


def test_a_name_is_loaded_from_its_submodule_on_first_use_and_kept(package):
    assert "lazypkg.numbers" not in sys.modules
    assert "answer" in dir(package)
    assert package.answer == 42
    assert "lazypkg.numbers" in sys.modules
    assert vars(package)["answer"] == 42  # kept: later look-ups skip __getattr__


def test_a_submodule_is_reached_by_its_own_name(package):
    assert package.other.word == "x"


def test_an_unknown_name_is_an_attribute_error_naming_it(package):
    with pytest.raises(AttributeError, match="'lazypkg' has no attribute 'nothing'"):
        package.nothing  # noqa: B018
