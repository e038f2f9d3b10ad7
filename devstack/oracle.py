"""The local oracle: keeps the stack's chain living by publishing rounds at wall-clock time.

While the stack runs, every registry feed gets new rounds of the simulated market
(devstack.oracle_market, the history's walk continued) by the history's heartbeat / deviation rule
(devstack.oracle_rule), through the same contracts: the feed's current phase, the history's
OcrStyleAggregator behind the real EACAggregatorProxy, round ids numbered on from its last round.
A round is written as the history writes its rounds: a block mined at the round's time, then the
aggregator's storage (devstack.chain.mine_rounds). The contracts are unchanged, so is the
history's fingerprint.

Its only state is the chain and the moves file: on start it resumes after the node's latest block,
first publishing what the market did since then (catch-up), then samples every market step that
passed at each tick. Every decision depends on the last round on chain and the market only, so a
stop and a catch-up publish the same rounds as running through, and no block is ever older than
the head. Market steps the head already passed without the oracle (a block someone else mined)
are not published.

    python -m devstack.oracle serve                         # foreground (what the service runs)
    python -m devstack.oracle move USDC/USD 0.97 --minutes 20
    python -m devstack.oracle status                        # the last round per feed, as JSON

SIMULATED: the market is made up; see devstack.history.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from web3 import Web3
from web3.exceptions import Web3Exception

from chainlink_feeds.registry import Feed, load_registry
from devstack import chain, contracts, history, processes
from devstack.oracle_market import (
    MARKET_STEP_SECONDS,
    LiveMarket,
    Move,
    MoveError,
    Walk,
    add_move,
    continuing,
    load_moves,
    utc,
)
from devstack.oracle_rule import Publication, rounds_between
from devstack.settings import ANVIL_URL, PROJECT_DIR, STACK_DIR

log = logging.getLogger(__name__)

SERVICE_NAME = "oracle"
HOST = "127.0.0.1"
# 8546 is the tests' default scratch node and 8547 the ingest benchmark's.
PORT = int(os.environ.get("PEG_ORACLE_PORT", "8548"))
TICK_SECONDS = float(os.environ.get("PEG_ORACLE_TICK_SECONDS", "10"))
MOVES_FILE = STACK_DIR / "oracle" / "moves.json"


@dataclass
class FeedState:
    """One feed as the oracle publishes it: its market, current phase, aggregator and last round."""

    feed: Feed
    market: LiveMarket
    phase: int
    aggregator: chain.Aggregator
    last: history.SimRound | None
    last_reason: str | None = None
    published_at: float | None = None  # wall clock when the oracle wrote `last`


class Oracle:
    """Publishes the rounds of `feeds` on the node at `rpc`, each feed's market from `walks`."""

    def __init__(self, rpc: chain.Rpc, feeds: list[Feed], walks: dict[str, Walk], moves_file: Path = MOVES_FILE):
        self.rpc = rpc
        self.feeds = feeds
        self.markets = {f.pair: LiveMarket(walks[f.pair]) for f in feeds}
        self.moves_file = moves_file
        self.states: dict[str, FeedState] = {}
        self.observed_until: float = 0
        self.published = 0
        self.error: str | None = None

    def attach(self) -> None:
        """Read each feed's current phase, its aggregator and latest round from the chain."""
        proxy_abi = contracts.build()["EACAggregatorProxy"]["abi"]
        w3 = Web3(Web3.HTTPProvider(self.rpc.url))
        states = {}
        for feed in self.feeds:
            proxy = w3.eth.contract(feed.proxy, abi=proxy_abi)
            phase = proxy.functions.phaseId().call()
            aggregator = chain.ocr_aggregator(self.rpc, proxy.functions.phaseAggregators(phase).call())
            round_id, answer, _, updated_at, _ = proxy.functions.latestRoundData().call()
            number = round_id & ((1 << 64) - 1)
            last = (
                history.SimRound(feed.pair, phase, number, answer, updated_at, updated_at, number) if number else None
            )
            states[feed.pair] = FeedState(feed, self.markets[feed.pair], phase, aggregator, last)
        self.states = states

    def publish_until(self, now: float) -> list[Publication]:
        """Publish, by the rule, every market step after the last one observed (or the node's head)
        up to `now`, in blocks in time order; return what was published."""
        if not self.states:
            self.attach()
        moves = load_moves(self.moves_file)
        after = max(self.observed_until, chain.head_timestamp(self.rpc))
        blocks: dict[int, list[Publication]] = defaultdict(list)
        for state in self.states.values():
            state.market.moves = moves
            for publication in rounds_between(state.feed, state.market, state.phase, state.last, after, now):
                blocks[publication.round.updated_at].append(publication)
        published = []
        for at in sorted(blocks):
            chain.mine_rounds(self.rpc, at, [(self.states[p.round.pair].aggregator, [p.round]) for p in blocks[at]])
            for p in blocks[at]:
                state = self.states[p.round.pair]
                state.last, state.last_reason, state.published_at = p.round, p.reason, time.time()
                log.info(
                    "%s round %s:%s %s at %s (%s)",
                    p.round.pair,
                    p.round.phase,
                    p.round.aggregator_round,
                    history.price(p.round, state.feed.decimals),
                    utc(at),
                    p.reason,
                )
            published += blocks[at]
        self.observed_until = max(after, now)
        self.published += len(published)
        return published

    def status(self) -> dict[str, Any]:
        """The last round published per feed, JSON-able (what the status endpoint answers)."""
        feeds = {}
        for pair, s in self.states.items():
            r = s.last
            feeds[pair] = {
                "proxy": s.feed.proxy,
                "phase": s.phase,
                "aggregator": s.aggregator.address,
                "round_id": str(r.round_id) if r else None,
                "aggregator_round": r.aggregator_round if r else None,
                "answer": r.answer if r else None,
                "price": str(history.price(r, s.feed.decimals)) if r else None,
                "updated_at": r.updated_at_utc.isoformat() if r else None,
                "reason": s.last_reason,
                "published_at": utc(s.published_at) if s.published_at else None,
                "market_level": s.market.level(int(self.observed_until)) if self.observed_until else None,
            }
        return {
            "label": history.LABEL,
            "rpc": self.rpc.url,
            "observed_until": utc(self.observed_until) if self.observed_until else None,
            "published": self.published,
            "error": self.error,
            "feeds": feeds,
        }


class _StatusHandler(BaseHTTPRequestHandler):
    """GET / (or /status): the oracle's status as JSON; what `processes.start` waits for."""

    oracle: Oracle

    def do_GET(self) -> None:
        if self.path.split("?")[0] not in ("/", "/status"):
            self.send_error(404, "try /status")
            return
        body = json.dumps(self.oracle.status()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def serve(
    oracle: Oracle,
    *,
    port: int = PORT,
    tick: float = TICK_SECONDS,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Answer the status on `port`, catch up to now, then publish every `tick` seconds until `stop`.

    A tick that fails (the node restarting, a broken moves file) is logged and shown in the
    status; the next one reads the chain again and resumes.
    """
    stop = stop or threading.Event()
    handler = type("StatusHandler", (_StatusHandler,), {"oracle": oracle})
    server = ThreadingHTTPServer((HOST, port), handler)
    threading.Thread(target=server.serve_forever, name="oracle-status", daemon=True).start()
    log.info(
        "oracle on %s, status on http://%s:%s/status, tick %ss (%s)", oracle.rpc.url, HOST, port, tick, history.LABEL
    )
    try:
        while not stop.is_set():
            began = time.monotonic()
            try:
                oracle.publish_until(clock())
                oracle.error = None
            except (chain.ChainError, MoveError, requests.RequestException, Web3Exception) as exc:
                log.warning("tick failed, retrying at the next one: %s", exc)
                oracle.error, oracle.states = str(exc), {}
            stop.wait(max(0.0, tick - (time.monotonic() - began)))
    finally:
        server.shutdown()
        server.server_close()


def stack_oracle(
    rpc_url: str = ANVIL_URL, history_end: datetime | None = None, moves_file: Path = MOVES_FILE
) -> Oracle:
    """The oracle of the stack's chain: every registry feed, each continuing the stack's history."""
    scenario = history.Scenario(history_end) if history_end else chain.scenario()
    feeds = load_registry()
    return Oracle(chain.Rpc(rpc_url), feeds, {f.pair: continuing(f, scenario) for f in feeds}, moves_file)


def start_service(
    rpc_url: str = ANVIL_URL,
    port: int = PORT,
    tick: float = TICK_SECONDS,
    name: str = SERVICE_NAME,
    history_end: datetime | None = None,
    moves_file: Path = MOVES_FILE,
) -> bool:
    """Start the oracle in the background unless it runs (log in .stack/logs/<name>.log); True if started."""
    argv = [sys.executable, "-m", "devstack.oracle", "serve", "--rpc-url", rpc_url, "--port", str(port)]
    argv += ["--tick", str(tick), "--moves-file", str(moves_file)]
    if history_end:
        argv += ["--history-end", history_end.date().isoformat()]
    pythonpath = os.pathsep.join([str(PROJECT_DIR / "plugins"), str(PROJECT_DIR)])
    return processes.start(name, argv, HOST, port, env={"PYTHONPATH": pythonpath})


def stop_service(name: str = SERVICE_NAME) -> bool:
    """Stop the oracle (it finishes its tick first); True if it ran."""
    return processes.stop(name)


def move(pair: str, price: str, minutes: float, moves_file: Path = MOVES_FILE, now: float | None = None) -> Move:
    """Move a feed's market to `price` for `minutes` from the next market step; MoveError names what is wrong."""
    return add_move(
        moves_file, load_registry(), pair, price, minutes, time.time() if now is None else now, MARKET_STEP_SECONDS
    )


def _serve(args: argparse.Namespace) -> None:
    end = datetime.combine(args.history_end, datetime.min.time(), UTC) if args.history_end else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # finish the tick: a block is never left without its round
    serve(stack_oracle(args.rpc_url, end, args.moves_file), port=args.port, tick=args.tick, stop=stop)


def _move(args: argparse.Namespace) -> None:
    m = move(args.pair, args.price, args.minutes, args.moves_file)
    print(f"{m.pair} moves to {m.price} from {utc(m.start)} until {utc(m.end)} ({history.LABEL})")
    print("the running oracle publishes it at its next tick; a restart replays it")


def _status(args: argparse.Namespace) -> None:
    try:
        answer = requests.get(f"http://{HOST}:{args.port}/status", timeout=5)
    except requests.ConnectionError:
        sys.exit(f"error: no oracle answers on {HOST}:{args.port}")
    print(json.dumps(answer.json(), indent=2))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m devstack.oracle", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True)
    serve_ = commands.add_parser("serve", help="publish rounds in the foreground (what the service runs)")
    serve_.add_argument("--rpc-url", default=ANVIL_URL)
    serve_.add_argument("--port", type=int, default=PORT, help="status endpoint port")
    serve_.add_argument("--tick", type=float, default=TICK_SECONDS, help="seconds between ticks")
    serve_.add_argument("--history-end", type=lambda s: datetime.strptime(s, "%Y-%m-%d").date(), help="YYYY-MM-DD")
    serve_.add_argument("--moves-file", type=Path, default=MOVES_FILE)
    serve_.set_defaults(run=_serve)
    move_ = commands.add_parser("move", help="move a feed's market, e.g. USDC/USD 0.97 --minutes 20")
    move_.add_argument("pair")
    move_.add_argument("price")
    move_.add_argument("--minutes", type=float, required=True)
    move_.add_argument("--moves-file", type=Path, default=MOVES_FILE)
    move_.set_defaults(run=_move)
    status = commands.add_parser("status", help="print the last round published per feed")
    status.add_argument("--port", type=int, default=PORT)
    status.set_defaults(run=_status)
    args = parser.parse_args()
    try:
        args.run(args)
    except (MoveError, chain.ChainError, processes.ServiceError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
