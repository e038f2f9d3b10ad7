"""Start and stop the local stack's background services, one pidfile and one log file each."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
import requests

from devstack.settings import LOG_DIR, RUN_DIR

T = TypeVar("T")


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


def log_path(name: str) -> Path:
    return LOG_DIR / f"{name}.log"


def start(
    name: str,
    argv: list[str],
    host: str | None = None,
    port: int | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    ready: Callable[[], bool] | None = None,
    user: str | None = None,
) -> bool:
    """Start `argv` in the background unless it already runs; wait until it is ready. True if started.

    It is ready when `ready()` is true, or else when it listens on host:port (a service that
    listens nowhere passes a `ready` check of its own, e.g. another service's view of it). A given
    port must be free before the start. `user` runs it as that OS user (a server that refuses root).
    """
    if ready is None and port is None:
        raise ValueError(f"{name}: give a port it listens on or a ready check")
    listening = (lambda: port_open(host or "127.0.0.1", port)) if port is not None else None
    is_ready = ready or listening
    if pid_of(name):
        if listening and not listening():
            raise ServiceError(f"{name} runs (pid {pid_of(name)}) but does not listen on {host}:{port}")
        return False
    if listening and listening():
        raise ServiceError(f"port {host}:{port} for {name} is taken by another program: free it or change the port")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(log_path(name), "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=None if env is None else os.environ | env,
        user=user,
        group=user,
        extra_groups=[] if user else None,
    )
    (RUN_DIR / f"{name}.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not is_ready():
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with code {proc.returncode}; see {log_path(name)}")
        if time.monotonic() > deadline:
            stop(name)
            where = f"listen on {host}:{port}" if ready is None else "become ready"
            raise ServiceError(f"{name} did not {where} within {timeout:.0f}s; see {log_path(name)}")
        time.sleep(0.2)
    return True


def answers_http(url: str) -> bool:
    """True if `url` answers 200 now."""
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def wait_until(what: str, check: Callable[[], T], timeout: float, every: float = 1.0) -> T:
    """Call `check` every `every` seconds until it returns something truthy, and return that;
    ServiceError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} within {timeout:.0f}s")
        time.sleep(every)
    return found


def wait_http(url: str, timeout: float) -> None:
    """Wait until `url` answers 200 (a service that listens before it is ready)."""
    wait_until(f"{url} did not answer", lambda: answers_http(url), timeout)


def _tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant, including those in process groups of their own (Airflow
    runs each task in a group of its own, which a signal to the service's group does not reach)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


def _kill_all(procs: list[psutil.Process], timeout: float = 10) -> None:
    """SIGKILL the processes and wait until they are gone (and their ports free)."""
    _signal_all(procs, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=timeout)


def stop(name: str, timeout: float = 30, sig: int = signal.SIGTERM) -> bool:
    """Stop a service with `sig` to its process group (SIGTERM lets it save its state and finish
    its work), then SIGKILL whatever of its process tree is left after `timeout`. True if it ran."""
    pid = pid_of(name)
    if pid is None:
        return False
    tree = _tree(pid)
    os.killpg(pid, sig)
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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _kill_all([p for p in tree if p.is_running()])
    (RUN_DIR / f"{name}.pid").unlink(missing_ok=True)
    return True


def kill(name: str) -> bool:
    """SIGKILL a service's whole process tree at once, as if its machine died. True if it ran."""
    pid = pid_of(name)
    if pid is None:
        return False
    _kill_all(_tree(pid))
    (RUN_DIR / f"{name}.pid").unlink(missing_ok=True)
    return True
