"""What the local stack is made of: its services in start order, and `up`, `down` and `status` over them."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chainlink_feeds.registry import load_registry
from devstack.chain import contracts, stack_history
from devstack.chain.stack_chains import STACK_CHAINS, StackChain, chains_of
from devstack.chain.uniswap import artifacts as uniswap_artifacts
from devstack.cluster.celery import Cluster
from devstack.oracle import service as oracle
from devstack.services import alert_receiver, emulator, postgres, processes, redis_broker
from devstack.settings import FAKESNOW_PORT, POSTGRES_HOST, POSTGRES_PORT
from devstack.simulation import history


@dataclass(frozen=True)
class StackService:
    """A service `up` starts (in list order), `down` stops (in reverse) and `status` lists."""

    name: str
    address: str
    start: Callable[[], bool]
    stop: Callable[[], bool]
    processes: tuple[str, ...] = ()  # what `status` lists (default: the service's name)


def _start_chains(chains: list[StackChain]) -> bool:
    """The nodes, each with its chain's part of the simulated history replayed into it if it is not
    there yet; the nodes replay side by side."""
    feeds = load_registry()
    started = [chain.start() for chain in chains]
    sc = stack_history.scenario()  # fixes the history's end once, before the replays read it
    with ThreadPoolExecutor(len(chains)) as replays:
        written = list(replays.map(lambda chain: stack_history.ensure_history(feeds, chain=chain), chains))
    print(f"history    {history.LABEL}: {sc.start.date()} .. {sc.end.date()} (exclusive)")
    for chain, rounds in zip(chains, written, strict=True):
        if rounds:
            print(f"           {chain.name} replayed " + ", ".join(f"{pair}: {n} rounds" for pair, n in rounds.items()))
    return any(started)


def _stop_chains() -> bool:
    """Stop every node the stack may have started (the registry may have changed since)."""
    return any([chain.stop() for chain in STACK_CHAINS])


def _start_oracles(chains: list[StackChain]) -> bool:
    started = [oracle.start_service(c.url, c.oracle_port, name=c.oracle, chain=c.name) for c in chains]
    return any(started)


def _stop_oracles() -> bool:
    return any([oracle.stop_service(chain.oracle) for chain in STACK_CHAINS])


def services() -> list[StackService]:
    """The stack's services in start order, with a node and an oracle per chain the registry's feeds are on."""
    chains = chains_of(load_registry())
    return [
        StackService(
            "anvil", ", ".join(c.url for c in chains), lambda: _start_chains(chains), _stop_chains,
            tuple(c.node for c in chains),
        ),
        StackService("fakesnow", f"http://127.0.0.1:{FAKESNOW_PORT}", emulator.start_emulator, emulator.stop_emulator),
        StackService("postgres", f"postgresql://{POSTGRES_HOST}:{POSTGRES_PORT}", postgres.start, postgres.stop),
        StackService("redis", redis_broker.url(), redis_broker.start, redis_broker.stop),
        # The living chains: rounds at wall-clock time from the history's end on (after the nodes' replay).
        StackService(
            "oracle", ", ".join(f"http://{oracle.HOST}:{c.oracle_port}/status" for c in chains),
            lambda: _start_oracles(chains), _stop_oracles, tuple(c.oracle for c in chains),
        ),
        StackService(
            "alert-receiver", f"{alert_receiver.URL}/alerts", alert_receiver.start_service, alert_receiver.stop_service
        ),
    ]  # fmt: skip


# The demo's processes, stopped before the stack's services (they use them).
DEMO_PROCESSES = ["dashboard", "airflow"]  # "airflow": the standalone shape's one process tree


# What Airflow and the dashboard need, and nothing of the chain: `make demo` starts these, then
# Airflow, beside the rest (the nodes' history replay, the longest part, starts at once).
WAREHOUSE_AND_BROKER = ("fakesnow", "postgres", "redis")


def up(only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> None:
    """Start the services (`only`: those named; never those in `skip`), in stack order, unless they
    run; each line says how long it took. The nodes' contracts (Chainlink's and Uniswap's, two
    compilers) are built side by side first."""
    chosen = [s for s in services() if (only is None or s.name in only) and s.name not in skip]
    if any(s.name == "anvil" for s in chosen):
        with ThreadPoolExecutor(2) as builds:
            list(builds.map(lambda build: build(), (contracts.build, uniswap_artifacts.build)))
    for service in chosen:
        began = time.monotonic()
        started = service.start()
        state = f"started in {time.monotonic() - began:.0f} s" if started else "already running"
        print(f"{service.name:10} {service.address} ({state})", flush=True)


def down() -> None:
    for name, ran in Cluster.demo().stop().items():
        print(f"{'airflow ' + name:24} {'stopped' if ran else 'was not running'}")
    for name in DEMO_PROCESSES:
        print(f"{name:24} {'stopped' if processes.stop(name) else 'was not running'}")
    for service in reversed(services()):
        print(f"{service.name:24} {'stopped' if service.stop() else 'was not running'}")


def status() -> None:
    rows = [(name, processes.pid_of(name)) for s in services() for name in s.processes or (s.name,)]
    rows += [(name, processes.pid_of(name)) for name in DEMO_PROCESSES]
    rows += [(f"airflow {name}", pid) for name, pid in Cluster.demo().status().items()]
    for name, pid in rows:
        print(f"{name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")
