"""The Celery broker: Debian's redis-server with its append-only file in .stack/redis, on its own port.

The append-only file keeps queued task messages across a restart of the stack.
"""

from __future__ import annotations

import shutil

import redis

from devstack.services import processes
from devstack.settings import REDIS_HOST, REDIS_PORT, STACK_DIR

DATA_DIR = STACK_DIR / "redis"
SERVICE = "redis"


def url(db: int = 0) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


def answers() -> bool:
    """True once the server answers PING (not while it loads its append-only file)."""
    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def start() -> bool:
    """Start the server unless it runs. True if started."""
    server = shutil.which("redis-server")
    if server is None:
        raise processes.ServiceError(
            "redis-server is missing: install Debian's redis-server (`make services-packages`)"
        )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    argv = [
        server, "--bind", REDIS_HOST, "--port", str(REDIS_PORT), "--dir", str(DATA_DIR),
        "--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes",
    ]  # fmt: skip
    return processes.start(SERVICE, argv, REDIS_HOST, REDIS_PORT, timeout=30, ready=answers)


def stop() -> bool:
    return processes.stop(SERVICE)
