"""What the local stack is made of: its services in start order, and `up`, `down` and `status` over them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chainlink_feeds.registry import load_registry
from devstack.chain import contracts, node, stack_history
from devstack.cluster.celery import Cluster
from devstack.oracle import service as oracle
from devstack.services import alert_receiver, emulator, postgres, processes, redis_broker
from devstack.settings import ANVIL_URL, FAKESNOW_PORT, POSTGRES_HOST, POSTGRES_PORT
from devstack.simulation import history


@dataclass(frozen=True)
class StackService:
    """A service `up` starts (in list order), `down` stops (in reverse) and `status` lists."""

    name: str
    address: str
    start: Callable[[], bool]
    stop: Callable[[], bool]


def _start_chain() -> bool:
    """The node, with the simulated history replayed into it if it is not there yet."""
    started = node.start_node()
    written = stack_history.ensure_history(load_registry())
    sc = stack_history.scenario()
    print(f"history    {history.LABEL}: {sc.start.date()} .. {sc.end.date()} (exclusive)")
    if written:
        print("           replayed " + ", ".join(f"{pair}: {n} rounds" for pair, n in written.items()))
    return started


STACK = [
    StackService("anvil", ANVIL_URL, _start_chain, node.stop_node),
    StackService("fakesnow", f"http://127.0.0.1:{FAKESNOW_PORT}", emulator.start_emulator, emulator.stop_emulator),
    StackService("postgres", f"postgresql://{POSTGRES_HOST}:{POSTGRES_PORT}", postgres.start, postgres.stop),
    StackService("redis", redis_broker.url(), redis_broker.start, redis_broker.stop),
    # The living chain: rounds at wall-clock time from the history's end on (after the node's replay).
    StackService("oracle", f"http://{oracle.HOST}:{oracle.PORT}/status", oracle.start_service, oracle.stop_service),
    StackService(
        "alert-receiver", f"{alert_receiver.URL}/alerts", alert_receiver.start_service, alert_receiver.stop_service
    ),
]
# The demo's processes, stopped before the stack's services (they use them).
DEMO_PROCESSES = ["dashboard", "airflow"]  # "airflow": the standalone shape's one process tree


# What Airflow and the dashboard need, and nothing of the chain: `make demo` starts these first and
# Airflow beside the chain's history replay.
WAREHOUSE_AND_BROKER = ("fakesnow", "postgres", "redis")


def up(only: tuple[str, ...] | None = None) -> None:
    """Start the services (`only`: those named, in stack order) unless they run; each line says how long it took."""
    if only is None:
        contracts.build()
    for service in STACK:
        if only is None or service.name in only:
            began = time.monotonic()
            started = service.start()
            state = f"started in {time.monotonic() - began:.0f} s" if started else "already running"
            print(f"{service.name:10} {service.address} ({state})", flush=True)


def down() -> None:
    for name, ran in Cluster.demo().stop().items():
        print(f"{'airflow ' + name:24} {'stopped' if ran else 'was not running'}")
    for name in DEMO_PROCESSES:
        print(f"{name:24} {'stopped' if processes.stop(name) else 'was not running'}")
    for service in reversed(STACK):
        print(f"{service.name:24} {'stopped' if service.stop() else 'was not running'}")


def status() -> None:
    rows = [(s.name, processes.pid_of(s.name)) for s in STACK]
    rows += [(name, processes.pid_of(name)) for name in DEMO_PROCESSES]
    rows += [(f"airflow {name}", pid) for name, pid in Cluster.demo().status().items()]
    for name, pid in rows:
        print(f"{name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")
