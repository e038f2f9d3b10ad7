"""Where a newcomer's minutes go: each step of `make demo` prints how long it took and how long
since the make command started (PEG_MAKE_STARTED, Unix seconds, set by the Makefile)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


def since_start() -> float:
    """Seconds since the make command started (since this process started, outside make)."""
    started = os.environ.get("PEG_MAKE_STARTED")
    return time.time() - float(started) if started else time.monotonic() - _PROCESS_STARTED


@contextmanager
def step(name: str) -> Iterator[None]:
    """Time one step and print `name  took N s  (+T s since make started)` when it ends."""
    began = time.monotonic()
    yield
    print(f"{name:10} took {time.monotonic() - began:4.0f} s  (+{since_start():.0f} s since make started)", flush=True)


_PROCESS_STARTED = time.monotonic()
