"""Typer command classes that keep Pydantic out of hot commands (``crms lookup``).

Typer converts parameter values through a Pydantic ``TypeAdapter``: a command with a text argument, and the
``crms`` group itself (its ``--install-completion``/``--show-completion`` flags, unset on every run), import
Pydantic and build adapters on every run, about 70 ms of CPU, more than the lookup's own queries. Values
given on the command line already are ``str``, and flags already are ``bool`` (or None when unset), so
:class:`TextCommand` and :class:`TextGroup` give such parameters Typer's own pass-through conversion (a value
of the declared type is returned as it is; anything else is refused). Other parameters (numbers, paths,
choices, files, non-flag booleans, custom parsers) keep Typer's conversion. Should a Typer release rename
these internals, the commands fall back to Typer's own conversion: slower, same behaviour
(``tests/test_cli_startup.py`` then fails on the Pydantic import).

The garbage collector: a lookup's start-up creates about 100,000 objects (SQLAlchemy, Typer, the models)
that all live until the process ends, and the collector's full passes over them while they are created, and
once more at exit, cost about 0.15 s of CPU, a third of the lookup. :func:`pause_gc` (``crms.cli.main.main``)
pauses it; the ``crms`` group resumes it as soon as the command is known, except for a
:class:`QuickCommand` (a short command, ``crms lookup``), which runs with it paused, and whose objects are
frozen at exit (:func:`settle_gc`) so that the final collection does not walk them. Commands run in-process
(Typer's ``CliRunner`` in the tests) never pause it."""

from __future__ import annotations

import gc
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


_gc_paused = False


def pause_gc() -> None:
    """Pause the garbage collector for start-up (the ``crms`` process only; see the module text)."""
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Start-up is over: collect again (only if :func:`pause_gc` paused it)."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()


def settle_gc() -> None:
    """At the end of a command run with the collector paused: freeze what is left, so that the interpreter's
    final collection does not walk it (the process is about to exit)."""
    if _gc_paused:
        gc.freeze()


class TextCommand(TyperCommand):
    """A command whose text parameters and flags are taken as given (no Pydantic)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _pass_through_plain_params(params)
        return params


class QuickCommand(TextCommand):
    """A short command (a lookup): it runs with the garbage collector paused (see :func:`pause_gc`)."""

    quick = True


class TextGroup(TyperGroup):
    """The ``crms`` group: its own flags (shell completion, added by Typer after the group is built, and
    ``--help``) are taken as given (no Pydantic); the garbage collector resumes once the command is known,
    unless it is a :class:`QuickCommand`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _pass_through_plain_params(params)
        return params

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        try:
            name, cmd, rest = super().resolve_command(ctx, args)
        except BaseException:
            resume_gc()
            raise
        if not getattr(cmd, "quick", False):
            resume_gc()
        return name, cmd, rest
