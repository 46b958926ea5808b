"""Progress of a long job, on a terminal and in a batch job's log."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def progress_reporter(
    what: str, total: int, quiet: bool = False, every_s: float = 10.0
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: a progress bar on a terminal, and when stderr is a file or a pipe (a
    batch job's log) a plain line every ``every_s`` seconds and at the end: done, total, rate."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if quiet:
        yield lambda n: None
        return
    if console.is_terminal:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(what, total=total)
            yield lambda n: bar.advance(task, n)
        return
    started = time.monotonic()
    last = started - every_s  # the first batch is reported at once: the job is alive
    done = 0

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every_s or done == total:
            last = now
            # A rate over less than a second of work says nothing (the first line comes at once).
            rate = f" ({done / (now - started):.1f}/s)" if now - started >= 1 else ""
            print(f"{what}: {done:,} of {total:,}{rate}", file=sys.stderr, flush=True)

    yield advance


def tracked(items: Iterable[T], what: str, total: int, quiet: bool = False) -> Iterator[T]:
    """``items`` as they come, counted by :func:`progress_reporter`: a bar on a terminal, a plain
    line every 10 s in a log (a tqdm bar wrote its carriage-return updates into one line of
    several KB there).

    >>> list(tracked(range(3), "steps", 3, quiet=True))
    [0, 1, 2]
    """
    with progress_reporter(what, total, quiet=quiet) as advance:
        for item in items:
            yield item
            advance(1)


@contextlib.contextmanager
def phased_progress(names: dict[str, str]) -> Iterator[Callable[[str, float, float], None]]:
    """Yield ``progress(phase, done, total)`` for a job of phases run one after another: each
    phase gets its own :func:`progress_reporter` (titled ``names[phase]``), closed when the next
    one starts or the job ends."""
    with contextlib.ExitStack() as stack:
        state = {"phase": None, "advance": None, "done": 0}

        def progress(phase: str, done: float, total: float) -> None:
            if phase != state["phase"]:
                stack.close()
                reporter = progress_reporter(names.get(phase, phase), max(1, int(total)))
                state.update(phase=phase, done=0, advance=stack.enter_context(reporter))
            state["advance"](int(done) - state["done"])
            state["done"] = int(done)

        yield progress
