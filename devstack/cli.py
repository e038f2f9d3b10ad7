"""Command line for the local stack: `python -m devstack up|down|status|truth DAY|env|airflow ...`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chainlink_feeds.registry import load_registry
from devstack import (
    alert_receiver,
    chain,
    contracts,
    history,
    oracle,
    postgres,
    processes,
    redis_broker,
    services,
    warehouse,
)
from devstack.airflow_env import airflow_env
from devstack.cluster import Cluster
from devstack.oracle_market import MoveError
from devstack.settings import (
    AIRFLOW_PORT,
    AIRFLOW_SHAPE,
    ANVIL_URL,
    DASHBOARD_URL,
    FAKESNOW_PORT,
    POSTGRES_HOST,
    POSTGRES_PORT,
)

DEMO_DAYS = int(os.environ.get("PEG_DEMO_DAYS", "14"))


@dataclass(frozen=True)
class StackService:
    """A service `up` starts (in list order), `down` stops (in reverse) and `status` lists."""

    name: str
    address: str
    start: Callable[[], bool]
    stop: Callable[[], bool]


def _start_chain() -> bool:
    """The node, with the simulated history replayed into it if it is not there yet."""
    started = chain.start_node()
    written = chain.ensure_history(load_registry())
    sc = chain.scenario()
    print(f"history    {history.LABEL}: {sc.start.date()} .. {sc.end.date()} (exclusive)")
    if written:
        print("           replayed " + ", ".join(f"{pair}: {n} rounds" for pair, n in written.items()))
    return started


STACK = [
    StackService("anvil", ANVIL_URL, _start_chain, chain.stop_node),
    StackService("fakesnow", f"http://127.0.0.1:{FAKESNOW_PORT}", warehouse.start_emulator, warehouse.stop_emulator),
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


def _up(_: argparse.Namespace) -> None:
    contracts.build()
    for service in STACK:
        started = service.start()
        print(f"{service.name:10} {service.address} ({'started' if started else 'already running'})")


def _down(_: argparse.Namespace) -> None:
    for name, ran in Cluster.demo().stop().items():
        print(f"{'airflow ' + name:24} {'stopped' if ran else 'was not running'}")
    for name in DEMO_PROCESSES:
        print(f"{name:24} {'stopped' if processes.stop(name) else 'was not running'}")
    for service in reversed(STACK):
        print(f"{service.name:24} {'stopped' if service.stop() else 'was not running'}")


def _status(_: argparse.Namespace) -> None:
    rows = [(s.name, processes.pid_of(s.name)) for s in STACK]
    rows += [(name, processes.pid_of(name)) for name in DEMO_PROCESSES]
    rows += [(f"airflow {name}", pid) for name, pid in Cluster.demo().status().items()]
    for name, pid in rows:
        print(f"{name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")


def _round_row(r: history.SimRound, decimals: int) -> dict:
    return {
        "round_id": str(r.round_id),
        "phase": r.phase,
        "aggregator_round": r.aggregator_round,
        "answer": r.answer,
        "price": str(history.price(r, decimals)),
        "started_at": datetime.fromtimestamp(r.started_at, UTC).isoformat(),
        "updated_at": r.updated_at_utc.isoformat(),
        "answered_in_round": str(r.proxy_answered_in_round),
    }


def _truth(args: argparse.Namespace) -> None:
    """Print the simulated ground truth of one UTC day: what the proxy served (the carry-in round,
    then the day's rounds, each with the time it was served from), then the day's rounds it never served."""
    day = datetime.combine(args.day, datetime.min.time(), UTC)
    sc = chain.scenario()
    result = {"label": history.LABEL, "day": args.day.isoformat(), "feeds": {}}
    for feed in load_registry():
        if args.pair and feed.pair != args.pair:
            continue
        feed_phases = history.phases(feed, sc)
        served = history.served(feed_phases)
        carry = history.carry_in(served, day)
        rows = [(carry, True)] if carry else []
        rows += [(s, False) for s in history.rounds_in_window(served, day, day + timedelta(days=1))]
        never = [
            r
            for r in history.never_served(feed_phases)
            if day.timestamp() <= r.updated_at < (day + timedelta(days=1)).timestamp()
        ]
        result["feeds"][feed.pair] = {
            "phases": [
                {
                    "phase": p.phase,
                    "kind": p.kind,
                    "activated_at": datetime.fromtimestamp(p.activated_at, UTC).isoformat(),
                }
                for p in feed_phases
            ],
            "served": [
                _round_row(s.round, feed.decimals)
                | {"served_from": s.served_from_utc.isoformat(), "is_carry_in": is_carry}
                for s, is_carry in rows
            ],
            "never_served": [
                _round_row(r, feed.decimals) | {"served_from": None, "is_never_served": True}
                for r in sorted(never, key=lambda r: (r.updated_at, r.round_id))
            ],
        }
    json.dump(result, sys.stdout, indent=2)
    print()


def _env(_: argparse.Namespace) -> None:
    """Print the project-local Airflow environment as shell exports (`eval "$(python -m devstack env)"`)."""
    for name, value in airflow_env().items():
        print(f"export {name}={shlex.quote(value)}")


def _airflow(args: argparse.Namespace) -> None:
    """Run the `airflow` CLI of this virtualenv with the project-local environment."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    os.execve(airflow, [airflow, *args.args], os.environ | airflow_env())


def _airflow_init(_: argparse.Namespace) -> None:
    """Create the project-local Airflow metadata DB and the pools the DAGs use (idempotent)."""
    env = airflow_env()
    services.init_airflow(env)
    print(f"airflow    home {env['AIRFLOW_HOME']}, pools {', '.join(p for p, _, _ in services.POOLS)}")


def _start_airflow() -> None:
    """The demo's Airflow in the shape PEG_AIRFLOW_SHAPE names, once its DAG is parsed."""
    if AIRFLOW_SHAPE == "standalone":
        services.start_airflow(env=services.standalone_env())
    else:
        for name, started in Cluster.demo().start().items():
            print(f"{'airflow ' + name:24} {'started' if started else 'already running'}")
    services.wait_dag_parsed()


def _demo(_: argparse.Namespace) -> None:
    """Start the dashboard and Airflow, backfill the most recent weeks through Airflow, print URLs."""
    sc = chain.scenario()
    services.start_dashboard()
    _start_airflow()
    first, last = (sc.end - timedelta(days=DEMO_DAYS)).date(), (sc.end - timedelta(days=1)).date()
    print(f"backfill   {services.DAILY_DAG} {first} .. {last} through Airflow ({history.LABEL}, {AIRFLOW_SHAPE})")
    states = services.wait_runs(services.backfill(first, last))
    failed = sorted(day for day, state in states.items() if state != "success")
    services.unpause(services.REALTIME_DAG)
    print(f"realtime   {services.REALTIME_DAG} on: each new round of the living chain reaches the dashboard")
    print(f"\nAirflow UI  http://127.0.0.1:{AIRFLOW_PORT}  (no login: local demo)")
    print(f"Dashboard   {DASHBOARD_URL}  (freshness: {DASHBOARD_URL}/api/freshness)")
    print(f"Alerts      {alert_receiver.URL}/alerts  (what the on-call received)")
    print("Watch a depeg live: .venv/bin/python -m devstack market USDC/USD 0.97 --minutes 20")
    print(
        "Backfill more history from the UI: open the stablecoin_peg_daily DAG, click Trigger > Backfill, pick a\n"
        f"date range within {sc.start.date()} .. {last} (the simulated history), and Run.\n"
        "Or: .venv/bin/python -m devstack airflow backfill create --dag-id stablecoin_peg_daily "
        "--from-date YYYY-MM-DD --to-date YYYY-MM-DD\n"
        "Logs of each Airflow process: .stack/logs/. Stop everything with `make stack-down` (state stays in .stack/)."
    )
    if failed:
        sys.exit(f"error: runs failed for {', '.join(failed)}; see the Airflow UI")


def _market(args: argparse.Namespace) -> None:
    """Move a feed's simulated market on the living chain (the oracle picks it up at its next tick)."""
    print(oracle.describe(oracle.move(args.pair, args.price, args.minutes, ramp_minutes=args.ramp_minutes)))


def _dbt_manifest(_: argparse.Namespace) -> None:
    """Build include/dbt/target/render_manifest.json, which the DAGs render the dbt project from."""
    from peg_monitor.dbt_project import build_manifest

    print(f"dbt        manifest {build_manifest()}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(required=True)
    commands.add_parser(
        "up", help="build contracts, start anvil, fakesnow, postgres and redis, replay history"
    ).set_defaults(run=_up)
    commands.add_parser("down", help="stop the services (state is kept in .stack)").set_defaults(run=_down)
    commands.add_parser("status", help="show which services run").set_defaults(run=_status)
    commands.add_parser("env", help="print the project-local Airflow environment as exports").set_defaults(run=_env)
    airflow = commands.add_parser("airflow", help="run the airflow CLI with the project-local environment")
    airflow.add_argument("args", nargs=argparse.REMAINDER)
    airflow.set_defaults(run=_airflow)
    commands.add_parser("airflow-init", help="create the Airflow DB and pools").set_defaults(run=_airflow_init)
    commands.add_parser("dbt-manifest", help="build the dbt manifest for Cosmos").set_defaults(run=_dbt_manifest)
    commands.add_parser("demo", help="start Airflow and the dashboard, backfill recent weeks").set_defaults(run=_demo)
    market = commands.add_parser("market", help="move a feed's live market, e.g. USDC/USD 0.97 --minutes 20")
    market.add_argument("pair", help="a registry pair, e.g. USDC/USD")
    market.add_argument("price", help="the price to move to, e.g. 0.97")
    market.add_argument("--minutes", type=float, required=True, help="how long the move lasts")
    market.add_argument("--ramp-minutes", type=float, default=0, help="slide there and back over this long")
    market.set_defaults(run=_market)
    truth = commands.add_parser("truth", help="print what the proxies served on one UTC day (simulated)")
    truth.add_argument("day", type=lambda s: datetime.strptime(s, "%Y-%m-%d").date(), help="YYYY-MM-DD")
    truth.add_argument("--pair", help="only this pair, e.g. USDC/USD")
    truth.set_defaults(run=_truth)
    args = parser.parse_args()
    try:
        args.run(args)
    except (
        chain.ChainError,
        processes.ServiceError,
        contracts.ContractBuildError,
        subprocess.CalledProcessError,
        MoveError,
    ) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
