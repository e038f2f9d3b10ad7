"""Where a newcomer's minutes go: each step of `make demo` prints how long it took and, under make,
how long since the make command started (PEG_MAKE_STARTED, Unix seconds, set by the Makefile)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


def since_start() -> float | None:
    """Seconds since the make command started; None outside make."""
    started = os.environ.get("PEG_MAKE_STARTED")
    return time.time() - float(started) if started else None


def stamp() -> str:
    """`(+N s since make started)`, or nothing outside make."""
    since = since_start()
    return f"(+{since:.0f} s since make started)" if since is not None else ""


@contextmanager
def step(name: str) -> Iterator[None]:
    """Time one step and print `name  took N s  (+T s since make started)` when it ends."""
    began = time.monotonic()
    yield
    print(f"{name:10} took {time.monotonic() - began:4.0f} s  {stamp()}".rstrip(), flush=True)
