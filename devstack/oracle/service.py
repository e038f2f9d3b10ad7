"""The local oracle service: keeps the stack's chain living by publishing rounds at wall-clock time.

While the stack runs, every registry feed gets new rounds of the simulated market
(devstack.oracle.market, the history's walk continued) by the history's heartbeat / deviation rule
(devstack.oracle.rule), through the same contracts: the feed's current phase, the history's
OcrStyleAggregator behind the real EACAggregatorProxy, round ids numbered on from its last round
(devstack.oracle.publisher). A round is written as the history writes its rounds: a block mined
at the round's time, then the aggregator's storage (devstack.chain.replay.mine_rounds), so the contracts
and the history's fingerprint are unchanged.

On start it first publishes what the market did since the node's latest block (catch-up), then,
every tick, each market step that has passed. A small HTTP endpoint answers its status (the last
round per feed), which is also what `processes.start` waits for.

One oracle runs per node of the stack (`--chain`): on an L2 it publishes nothing while the chain's
sequencer uptime feed says down (`devstack sequencer down`), as no transaction reaches the chain.

    python -m devstack.oracle serve                         # foreground (what the service runs)
    python -m devstack.oracle move USDC/USD 0.97 --minutes 20
    python -m devstack.oracle status                        # the last round per feed, as JSON

SIMULATED: the market is made up; see devstack.simulation.history.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from web3.exceptions import Web3Exception

from chainlink_feeds.errors import ChainlinkError
from chainlink_feeds.registry import load_market, load_registry
from devstack.chain import sequencer, stack_history
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.stack_chains import STACK_CHAINS, stack_chain
from devstack.oracle.market import MARKET_STEP_SECONDS, Move, MoveError, add_move, continuing, utc
from devstack.oracle.publisher import Oracle
from devstack.services import processes
from devstack.settings import ANVIL_URL, ORACLE_PORT, PROJECT_DIR, STACK_DIR
from devstack.simulation import history

log = logging.getLogger(__name__)

SERVICE_NAME = "oracle"
HOST = "127.0.0.1"
PORT = ORACLE_PORT
TICK_SECONDS = float(os.environ.get("PEG_ORACLE_TICK_SECONDS", "10"))
MOVES_FILE = STACK_DIR / "oracle" / "moves.json"


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
                oracle.publish_until(time.time())
                oracle.error = None
            except (ChainError, ChainlinkError, MoveError, requests.RequestException, Web3Exception) as exc:
                log.warning("tick failed, retrying at the next one: %s", exc)
                oracle.error, oracle.states = str(exc), {}
            stop.wait(max(0.0, tick - (time.monotonic() - began)))
    finally:
        server.shutdown()
        server.server_close()


def stack_oracle(
    rpc_url: str = ANVIL_URL,
    history_end: datetime | None = None,
    moves_file: Path = MOVES_FILE,
    chain: str = "ethereum",
) -> Oracle:
    """The oracle of one of the stack's chains: its registry feeds and references, each continuing the
    stack's history, and the registry's pools on the chain trading with those markets. A pair's move
    (`devstack market`) moves its market on every chain."""
    scenario = history.Scenario(history_end) if history_end else stack_history.scenario()
    oracles = stack_history.oracles(load_registry(), chain)
    walks = {f.pair: continuing(f, scenario) for f in oracles}
    node = stack_chain(chain)
    lock = stack_history.replay_lock(node) if rpc_url == node.url else None
    market = load_market()
    rpc = Rpc(rpc_url)
    entry = market.sequencer(chain)
    halted = (lambda: sequencer.status(rpc, entry.sequencer_uptime_feed).down) if entry else None
    return Oracle(rpc, oracles, walks, moves_file, lock=lock, pools=market.pools_on(chain), halted=halted)


def start_service(
    rpc_url: str = ANVIL_URL,
    port: int = PORT,
    tick: float = TICK_SECONDS,
    name: str = SERVICE_NAME,
    history_end: datetime | None = None,
    moves_file: Path = MOVES_FILE,
    chain: str = "ethereum",
) -> bool:
    """Start the oracle of `chain` in the background unless it runs (log in .stack/logs/<name>.log);
    True if started."""
    argv = [sys.executable, "-m", "devstack.oracle", "serve", "--rpc-url", rpc_url, "--port", str(port)]
    argv += ["--tick", str(tick), "--moves-file", str(moves_file), "--chain", chain]
    if history_end:
        argv += ["--history-end", history_end.date().isoformat()]
    pythonpath = os.pathsep.join([str(PROJECT_DIR / "plugins"), str(PROJECT_DIR)])
    return processes.start(name, argv, HOST, port, env={"PYTHONPATH": pythonpath})


def stop_service(name: str = SERVICE_NAME) -> bool:
    """Stop the oracle (it finishes its tick first); True if it ran."""
    return processes.stop(name)


def move(
    pair: str,
    price: str,
    minutes: float,
    ramp_minutes: float = 0,
    moves_file: Path = MOVES_FILE,
    oracle_frozen: bool = False,
) -> Move:
    """Move a feed's market to `price` for `minutes` from the next market step (sliding there and back
    over `ramp_minutes`; with `oracle_frozen` its oracle publishes nothing meanwhile); MoveError names
    the bad pair, price or duration."""
    feeds = load_registry()
    oracles = [o for chain in STACK_CHAINS for o in stack_history.oracles(feeds, chain.name)]
    now = time.time()
    return add_move(moves_file, oracles, pair, price, minutes, now, MARKET_STEP_SECONDS, ramp_minutes, oracle_frozen)


def describe(m: Move) -> str:
    """What a move does, for the person who asked for it."""
    ramp = f", sliding there and back over {m.ramp // 60} min" if m.ramp else ""
    frozen = (
        ", its oracle FROZEN (no round until the move ends; the pools follow the market)" if m.oracle_frozen else ""
    )
    return (
        f"{m.pair} moves to {m.price} from {utc(m.start)} until {utc(m.end)}{ramp}{frozen} ({history.LABEL});\n"
        "the running oracle publishes it at its next tick, and a restart replays it"
    )
