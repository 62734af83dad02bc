"""A Rich progress display for long CLI work, fed by a service's ``progress(stage, done, total)`` callback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stage_progress(*, disable: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """Yield a callback that shows one bar per stage on stderr (nothing when ``disable``)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=disable,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield progress


@contextmanager
def progress_display(*, quiet: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich bar on a terminal; in a log file (the demo's background job) a dated line per 5 % or minute."""
    if quiet or sys.stderr.isatty():
        with stage_progress(disable=quiet) as progress:
            yield progress
        return
    last: dict[str, tuple[float, int]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        t, shown = last.get(stage, (0.0, -1))
        step = max(1, total // 20)
        if done == total or done // step != shown // step or now - t >= 60:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            print(f"{stamp} {stage} {done}/{total}", file=sys.stderr, flush=True)
            last[stage] = (now, done)

    yield progress
