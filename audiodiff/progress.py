"""Progress bars for long loops (rich), silent when disabled or when nothing is a terminal."""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

T = TypeVar("T")


def make_progress(transient: bool = True) -> Progress:
    """A rich Progress with count, elapsed time and ETA columns."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    TextColumn("{task.fields[info]}"), transient=transient)


def progress(items: Iterable[T], total: int | None = None, description: str = "", enabled: bool = True) -> Iterator[T]:
    """Iterate over `items`, drawing a bar when enabled."""
    if not enabled:
        yield from items
        return
    with make_progress() as bar:
        task = bar.add_task(description, total=total, info="")
        for item in items:
            yield item
            bar.advance(task)
