"""Airflow's `[core] hostname_callable` for the stack's Celery workers.

Both workers run on one machine, so the machine's name would not tell which one ran a task; each
worker's environment names it (PEG_WORKER_HOSTNAME), and task instances record that name.
"""

from __future__ import annotations

from devstack.settings import WORKER_HOSTNAME


def hostname() -> str:
    if not WORKER_HOSTNAME:
        raise RuntimeError("PEG_WORKER_HOSTNAME is unset: this hostname_callable is for the stack's Celery workers")
    return WORKER_HOSTNAME
