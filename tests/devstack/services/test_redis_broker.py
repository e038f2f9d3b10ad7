"""The stack's Redis: queued messages survive a restart, and a taken port is named.

Each test runs a server of its own (a scratch stack folder and port, in a child process), never the shared one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from devstack.settings import PROJECT_DIR

PORT = 8196  # a scratch server's


def devstack(script: str, stack_dir: Path, port: int = PORT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}", "PEG_STACK_DIR": str(stack_dir),
                          "PEG_REDIS_PORT": str(port)},
    )  # fmt: skip


def test_queued_messages_survive_a_restart(tmp_path) -> None:
    script = f"""
import redis
from devstack.services import redis_broker
print(redis_broker.start())
client = redis.Redis(port={PORT})
if client.llen("queue") == 0:
    client.lpush("queue", "task-1", "task-2")
print(sorted(client.lrange("queue", 0, -1)))
print(redis_broker.stop())
"""
    first = devstack(script, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.split() == ["True", "[b'task-1',", "b'task-2']", "True"]
    second = devstack(script, tmp_path)  # the list is there again: nothing pushed this time
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.split() == first.stdout.split()
    assert (tmp_path / "redis").is_dir()


def test_a_taken_port_is_named(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = devstack("from devstack.services import redis_broker; redis_broker.start()", tmp_path, port)
    assert done.returncode != 0
    assert f"port 127.0.0.1:{port} for redis is taken by another program" in done.stderr
