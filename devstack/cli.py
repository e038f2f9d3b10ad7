"""Command line for the local stack: `python -m devstack up|down|status|truth DAY|market|sequencer|env|airflow ...`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from chainlink_feeds.registry import load_registry
from devstack import clock, demo, project_setup, stack
from devstack.chain import contracts, stack_history
from devstack.chain.rpc import ChainError
from devstack.chain.stack_chains import stack_chain
from devstack.cluster.airflow_env import airflow_env
from devstack.oracle import service as oracle
from devstack.oracle.market import MoveError
from devstack.services import processes
from devstack.simulation.history import LABEL
from devstack.simulation.truth import day_truth


def _up(_: argparse.Namespace) -> None:
    with clock.step("stack up"):
        stack.up()


def _down(_: argparse.Namespace) -> None:
    stack.down()


def _status(_: argparse.Namespace) -> None:
    stack.status()


def _truth(args: argparse.Namespace) -> None:
    """Print the simulated ground truth of one UTC day on one chain: what the proxies served, and what
    they never served."""
    feeds = stack_chain(args.chain).feeds(load_registry())
    json.dump(day_truth(feeds, stack_history.scenario(), args.day, args.pair), sys.stdout, indent=2)
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
    project_setup.init_airflow_db()


def _demo(_: argparse.Namespace) -> None:
    """Start the stack, the dashboard and Airflow, backfill the most recent weeks through Airflow, print URLs."""
    demo.run()


def _market(args: argparse.Namespace) -> None:
    """Move a feed's simulated market on the living chain (the oracle picks it up at its next tick)."""
    moved = oracle.move(args.pair, args.price, args.minutes, args.ramp_minutes, oracle_frozen=args.oracle_frozen)
    print(oracle.describe(moved))


def _sequencer(args: argparse.Namespace) -> None:
    """Take an L2's sequencer down or bring it back on the living chain, or show its status (SIMULATED)."""
    chain = stack_chain(args.chain)
    if args.action == "status":
        latest = stack_history.sequencer_status(chain)
    else:
        latest = stack_history.set_sequencer(chain, down=args.action == "down")
    since = datetime.fromtimestamp(latest.started_at, UTC).isoformat()
    print(f"{chain.name} sequencer {'DOWN' if latest.down else 'up'} since {since} (round {latest.round_id}; {LABEL})")
    if args.action != "status":
        print(
            f"its oracle publishes {'nothing until it is up again' if latest.down else 'again'}; the pipeline marks "
            f"{chain.name}'s prices untrusted while it is down and for the registry's grace period after"
        )


def _dbt_manifest(_: argparse.Namespace) -> None:
    """Build include/dbt/target/render_manifest.json, which the DAGs render the dbt project from."""
    project_setup.build_dbt_manifest()


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
    commands.add_parser("demo", help="start the stack, Airflow and the dashboard, backfill recent weeks").set_defaults(
        run=_demo
    )
    market = commands.add_parser("market", help="move a feed's live market, e.g. USDC/USD 0.97 --minutes 20")
    market.add_argument("pair", help="a registry pair, e.g. USDC/USD")
    market.add_argument("price", help="the price to move to, e.g. 0.97")
    market.add_argument("--minutes", type=float, required=True, help="how long the move lasts")
    market.add_argument("--ramp-minutes", type=float, default=0, help="slide there and back over this long")
    market.add_argument(
        "--oracle-frozen", action="store_true", help="the feed's oracle publishes nothing while the market moves"
    )
    market.set_defaults(run=_market)
    seq = commands.add_parser("sequencer", help="take an L2's sequencer down or up on the living chain")
    seq.add_argument("action", choices=("down", "up", "status"))
    seq.add_argument("--chain", default="arbitrum", help="an L2 the stack runs a node for (default: arbitrum)")
    seq.set_defaults(run=_sequencer)
    truth = commands.add_parser("truth", help="print what the proxies served on one UTC day (simulated)")
    truth.add_argument("day", type=lambda s: datetime.strptime(s, "%Y-%m-%d").date(), help="YYYY-MM-DD")
    truth.add_argument("--pair", help="only this pair, e.g. USDC/USD")
    truth.add_argument("--chain", default="ethereum", help="the chain's feeds (default: ethereum)")
    truth.set_defaults(run=_truth)
    args = parser.parse_args()
    try:
        args.run(args)
    except (
        ChainError,
        processes.ServiceError,
        contracts.ContractBuildError,
        subprocess.CalledProcessError,
        MoveError,
    ) as exc:
        sys.exit(f"error: {exc}")
