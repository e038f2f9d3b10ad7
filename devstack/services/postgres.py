"""The metadata DB: Debian's PostgreSQL server with its data in .stack/postgres, on its own port.

When the server's OS user cannot reach .stack (a checkout under a folder closed to others, such as
one made by `mktemp -d`), the data goes to a folder of the project's own in that user's home
instead (`data_dir`); `make clean` does not remove that one.

Postgres refuses to run as root, so as root the cluster is created and served as the `postgres`
OS user (which Debian's package creates), owning its data folder. Local connections are trusted
(the server listens on 127.0.0.1 only, no Unix socket): role `airflow` owns the demo's database and
may create more (each end-to-end test module gets one of its own).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql

from devstack.services import processes
from devstack.settings import POSTGRES_BIN_DIR, POSTGRES_HOST, POSTGRES_OS_USER, POSTGRES_PORT, STACK_DIR

DATA_DIR = STACK_DIR / "postgres"
# Airflow's SQLAlchemy connect args on this server (AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS): fail
# in 10 s when it is down; named explicitly so an inherited SQLite setting never reaches psycopg2.
CONNECT_ARGS = {"connect_timeout": 10}
ROLE = "airflow"
DEMO_DATABASE = "airflow"
SERVICE = "postgres"


class PostgresError(processes.ServiceError):
    """The Postgres server is missing, cannot be set up, or refused a request."""


def bin_dir() -> Path:
    """Where initdb and postgres are: PEG_POSTGRES_BIN_DIR, or Debian's newest installed server."""
    if POSTGRES_BIN_DIR:
        found = Path(POSTGRES_BIN_DIR)
    else:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        found = versions[-1] if versions else Path("/usr/lib/postgresql/15/bin")
    if not (found / "postgres").exists():
        raise PostgresError(
            f"no PostgreSQL server in {found}: install Debian's postgresql-15 (`make services-packages`) "
            "or set PEG_POSTGRES_BIN_DIR"
        )
    return found


def _os_user() -> str | None:
    """The OS user the server runs as: `postgres` when we are root (initdb refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        raise PostgresError(
            f"OS user {POSTGRES_OS_USER!r} is missing (Debian's postgresql package creates it); "
            "install it or set PEG_POSTGRES_OS_USER"
        ) from None
    return POSTGRES_OS_USER


def url(database: str = DEMO_DATABASE, driver: str = "postgresql+psycopg2") -> str:
    """The SQLAlchemy URL of a database on the stack's server, as role `airflow`."""
    return f"{driver}://{ROLE}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


@contextmanager
def connect(database: str = "postgres", user: str = ROLE) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit session on the stack's server, closed afterwards."""
    conn = psycopg2.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user=user, dbname=database, connect_timeout=5)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def accepts_connections() -> bool:
    """True once the server answers (it listens a moment before it accepts sessions)."""
    try:
        with connect(user="postgres"):
            return True
    except psycopg2.OperationalError:
        return False


def data_dir(user: str | None, wanted: Path = DATA_DIR) -> Path:
    """Where the cluster lives: `wanted` (.stack/postgres), unless the server's OS user `user`
    cannot pass through a folder above it; then `<user's home>/peg-monitor-<digest of wanted>`,
    one per checkout."""
    if user is None:
        return wanted
    entry = pwd.getpwnam(user)
    if _closed_parent(wanted, entry.pw_uid) is None:
        return wanted
    return Path(entry.pw_dir) / f"peg-monitor-{hashlib.sha256(str(wanted).encode()).hexdigest()[:12]}"


def _init_cluster(user: str | None, data: Path) -> None:
    """initdb into `data` (once): superuser `postgres`, trust on the loopback only."""
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    log = processes.log_path("postgres-initdb")
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(bin_dir() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, user=user, group=user, cwd="/")
    if done.returncode != 0:
        raise PostgresError(f"initdb of {data} failed (code {done.returncode}); see {log}")


def _closed_parent(path: Path, uid: int) -> Path | None:
    """The outermost existing folder above `path` that the user `uid` may not pass through (it owns
    none of them)."""
    for parent in reversed(path.parents):
        if not parent.exists():
            break
        info = parent.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            return parent
    return None


def start() -> bool:
    """Create the cluster if needed, start the server unless it runs, ensure role and demo DB. True if started."""
    server = bin_dir() / "postgres"
    user = _os_user()
    data = data_dir(user)
    _init_cluster(user, data)
    argv = [
        str(server), "-D", str(data), "-p", str(POSTGRES_PORT),
        "-c", f"listen_addresses={POSTGRES_HOST}", "-c", "unix_socket_directories=",
        "-c", "max_connections=200",  # the demo's and a test's Airflow may run side by side
    ]  # fmt: skip
    started = processes.start(
        SERVICE, argv, POSTGRES_HOST, POSTGRES_PORT, timeout=60, ready=accepts_connections, user=user
    )
    bootstrap()
    return started


def stop() -> bool:
    """Fast shutdown (SIGINT: roll back open transactions, checkpoint), not the smart one that waits for clients."""
    return processes.stop(SERVICE, timeout=60, sig=signal.SIGINT)


def bootstrap() -> None:
    """Create role `airflow` (may create databases) and the demo's database (idempotent)."""
    with connect(user="postgres") as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = %s", (ROLE,))
        if not cur.fetchone():
            cur.execute(sql.SQL("create role {} login createdb").format(sql.Identifier(ROLE)))
    create_database(DEMO_DATABASE)


def create_database(name: str) -> bool:
    """Create a database owned by `airflow` unless it exists. True if created."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (name,))
        if cur.fetchone():
            return False
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return True


def drop_database(name: str) -> None:
    """Drop a database, closing its remaining sessions first."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
