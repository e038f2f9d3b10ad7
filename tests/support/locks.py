"""A lock across pytest's xdist workers, so one of them at a time starts the stack's services."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from devstack.settings import STACK_DIR


@contextmanager
def stack_lock() -> Iterator[None]:
    """One xdist worker at a time starts the stack's services (the others then find them running)."""
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    with open(STACK_DIR / "tests-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
