"""Typer command classes that keep Pydantic out of hot commands (``crms lookup``).

Typer converts parameter values through a Pydantic ``TypeAdapter``: a command with a text argument, and the
``crms`` group itself (its ``--install-completion``/``--show-completion`` flags, unset on every run), import
Pydantic and build adapters on every run, about 70 ms of CPU, more than the lookup's own queries. Values
given on the command line already are ``str``, and flags already are ``bool`` (or None when unset), so
:class:`TextCommand` and :class:`TextGroup` give such parameters Typer's own pass-through conversion (a value
of the declared type is returned as it is; anything else is refused). Other parameters (numbers, paths,
choices, files, non-flag booleans, custom parsers) keep Typer's conversion. Should a Typer release rename
these internals, the commands fall back to Typer's own conversion: slower, same behaviour
(``tests/test_cli_startup.py`` then fails on the Pydantic import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typer.core import TyperCommand, TyperGroup


def _pass_through_plain_params(params: Sequence[Any]) -> None:
    try:
        from typer._coercion import PassThroughRuntimeParam
    except ImportError:  # pragma: no cover - another Typer: its own conversion
        return
    for param in params:
        desc = getattr(param, "type_descriptor", None)
        if desc is None or getattr(param, "_runtime_param", "unknown") is not None:
            continue
        plain_text = desc.annotation is str and not (desc.is_file or desc.is_path or desc.is_choice)
        flag = desc.annotation is bool and getattr(param, "is_flag", False)
        if (plain_text or flag) and getattr(desc.parameter_info, "parser", None) is None:
            param._runtime_param = PassThroughRuntimeParam(
                parameter_info=desc.parameter_info, annotation=desc.annotation
            )


class TextCommand(TyperCommand):
    """A command whose text parameters and flags are taken as given (no Pydantic)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _pass_through_plain_params(params)
        return params


class TextGroup(TyperGroup):
    """The ``crms`` group: its own flags (shell completion, added by Typer after the group is built, and
    ``--help``) are taken as given (no Pydantic)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _pass_through_plain_params(params)
        return params
