"""Locks across pytest's xdist workers: one of them at a time starts the stack's services, or builds
something both may ask for."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from devstack.settings import STACK_DIR


@contextmanager
def worker_lock(name: str) -> Iterator[None]:
    """One xdist worker at a time inside the block (a file lock `.stack/<name>.lock`)."""
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    with open(STACK_DIR / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def stack_lock() -> AbstractContextManager[None]:
    """One xdist worker at a time starts the stack's services (the others then find them running)."""
    return worker_lock("tests-start")
