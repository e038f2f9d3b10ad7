"""Start and stop the local stack's background services, one pidfile and one log file each."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

from devstack.settings import LOG_DIR, RUN_DIR


class ServiceError(RuntimeError):
    """A local service did not start or stop as asked."""


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_of(name: str) -> int | None:
    """The pid of a running service started by this module, or None."""
    pidfile = RUN_DIR / f"{name}.pid"
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pidfile.unlink()
        return None
    return pid


def start(
    name: str, argv: list[str], host: str, port: int, timeout: float = 60, env: dict[str, str] | None = None
) -> bool:
    """Start `argv` in the background unless it already runs; wait until it listens. True if started."""
    if pid_of(name):
        if not port_open(host, port):
            raise ServiceError(f"{name} runs (pid {pid_of(name)}) but does not listen on {host}:{port}")
        return False
    if port_open(host, port):
        raise ServiceError(f"port {host}:{port} for {name} is taken by another program: free it or change the port")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=None if env is None else os.environ | env,
    )
    (RUN_DIR / f"{name}.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with code {proc.returncode}; see {LOG_DIR / f'{name}.log'}")
        if time.monotonic() > deadline:
            stop(name)
            raise ServiceError(f"{name} did not listen on {host}:{port} within {timeout:.0f}s")
        time.sleep(0.1)
    return True


def stop(name: str, timeout: float = 30) -> bool:
    """Stop a service with SIGTERM (so it can save its state), then SIGKILL. True if it ran."""
    pid = pid_of(name)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # Reap it if it is our child (tests start services in-process).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    (RUN_DIR / f"{name}.pid").unlink(missing_ok=True)
    return True
