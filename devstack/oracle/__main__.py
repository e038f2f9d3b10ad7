"""Command line of the oracle: `python -m devstack.oracle serve|move|status` (see devstack.oracle.service)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import requests

from devstack.chain.rpc import ChainError
from devstack.chain.stack_chains import stack_chain
from devstack.oracle import service
from devstack.oracle.market import MoveError
from devstack.oracle.service import HOST, MOVES_FILE, TICK_SECONDS, describe, move, serve, stack_oracle
from devstack.services import processes


def _serve(args: argparse.Namespace) -> None:
    end = datetime.combine(args.history_end, datetime.min.time(), UTC) if args.history_end else None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # finish the tick: a block is never left without its round
        signal.signal(signum, lambda *_: stop.set())
    node = stack_chain(args.chain)
    oracle = stack_oracle(args.rpc_url or node.url, end, args.moves_file, args.chain)
    serve(oracle, port=args.port or node.oracle_port, tick=args.tick, stop=stop)


def _move(args: argparse.Namespace) -> None:
    print(describe(move(args.pair, args.price, args.minutes, args.ramp_minutes, args.moves_file, args.oracle_frozen)))


def _status(args: argparse.Namespace) -> None:
    port = args.port or stack_chain(args.chain).oracle_port
    try:
        answer = requests.get(f"http://{HOST}:{port}/status", timeout=5)
    except requests.ConnectionError:
        sys.exit(f"error: no oracle answers on {HOST}:{port}")
    print(json.dumps(answer.json(), indent=2))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m devstack.oracle", description=service.__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True)
    serve_ = commands.add_parser("serve", help="publish rounds in the foreground (what the service runs)")
    serve_.add_argument("--rpc-url", help="the node (default: the stack's node of --chain)")
    serve_.add_argument("--port", type=int, help="status endpoint port (default: the --chain oracle's)")
    serve_.add_argument("--tick", type=float, default=TICK_SECONDS, help="seconds between ticks")
    serve_.add_argument("--history-end", type=lambda s: datetime.strptime(s, "%Y-%m-%d").date(), help="YYYY-MM-DD")
    serve_.add_argument("--moves-file", type=Path, default=MOVES_FILE)
    serve_.add_argument("--chain", default="ethereum", help="the registry chain whose feeds it publishes")
    serve_.set_defaults(run=_serve)
    move_ = commands.add_parser("move", help="move a feed's market, e.g. USDC/USD 0.97 --minutes 20")
    move_.add_argument("pair")
    move_.add_argument("price")
    move_.add_argument("--minutes", type=float, required=True, help="how long the move lasts")
    move_.add_argument("--ramp-minutes", type=float, default=0, help="slide there and back over this long")
    move_.add_argument("--oracle-frozen", action="store_true", help="the feed's oracle publishes nothing meanwhile")
    move_.add_argument("--moves-file", type=Path, default=MOVES_FILE)
    move_.set_defaults(run=_move)
    status = commands.add_parser("status", help="print the last round published per feed")
    status.add_argument("--chain", default="ethereum", help="the chain whose oracle answers")
    status.add_argument("--port", type=int, help="its status port (default: the --chain oracle's)")
    status.set_defaults(run=_status)
    args = parser.parse_args()
    try:
        args.run(args)
    except (MoveError, ChainError, processes.ServiceError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
