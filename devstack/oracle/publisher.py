"""The oracle's publisher: reads each feed's current phase and last round from the chain and adds
the rounds the rule asks for, in blocks in time order (see devstack.oracle.service for the service).
With a PoolTrader it also moves the pools with the same markets, in the same blocks.

Its only state is the chain and the moves file: it resumes after the node's latest block, so a
stop and a catch-up publish the same rounds as running through (every decision depends on the
last round on chain and the market only). Market steps the head already passed without the oracle
(a block someone else mined) are not published. If the node is reset and replayed under it, it
reads the chain again.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlink_feeds.registry import Feed, Reference
from chainlink_feeds.rounds import ROUND_MASK
from devstack.chain import contracts
from devstack.chain.replay import head_timestamp, mine_rounds, ocr_aggregator
from devstack.chain.rpc import Rpc
from devstack.chain.storage import Aggregator
from devstack.oracle.market import LiveMarket, Walk, load_moves, utc
from devstack.oracle.rule import Publication, rounds_between
from devstack.oracle.trading import PoolTrader
from devstack.simulation import history

log = logging.getLogger(__name__)


@dataclass
class FeedState:
    """One feed as the oracle publishes it: its market, current phase, aggregator and last round."""

    feed: Feed | Reference
    market: LiveMarket
    phase: int
    aggregator: Aggregator
    last: history.SimRound | None
    last_reason: str | None = None
    published_at: float | None = None  # wall clock when the oracle wrote `last`


class Oracle:
    """Publishes the rounds of `feeds` (peg feeds and references) on the node at `rpc`, each feed's
    market from `walks`; with `pools`, trades them with those markets (see devstack.oracle.trading)."""

    def __init__(
        self,
        rpc: Rpc,
        feeds: list[Feed | Reference],
        walks: dict[str, Walk],
        moves_file: Path,
        lock: Path | None = None,
        pools: tuple = (),
        halted: Callable[[], bool] | None = None,
    ) -> None:
        self.rpc = rpc
        # True while nothing reaches the chain (an L2 whose sequencer is down): those steps publish nothing.
        self.halted = halted
        self.feeds = feeds
        self.markets = {f.pair: LiveMarket(walks[f.pair]) for f in feeds if walks[f.pair].peg_pair is None}
        for f in feeds:  # a feed pegged to a reference wanders around that reference's market
            if (peg := walks[f.pair].peg_pair) is not None:
                self.markets[f.pair] = LiveMarket(walks[f.pair], peg_market=self.markets[peg])
        pegs = {f.symbol: float(f.peg_usd) for f in feeds if isinstance(f, Feed)}
        self.trader = PoolTrader(pools, {f.symbol: self.markets[f.pair] for f in feeds}, pegs) if pools else None
        self.moves_file = moves_file
        self.lock = lock  # held during each publication, so a replay (stack_history.ensure_history) never interleaves
        self.states: dict[str, FeedState] = {}
        self.observed_until: float = 0
        self.seen_block: tuple[str, str] | None = None  # (number, hash) of the latest block after the last publication
        self.published = 0
        self.error: str | None = None

    def attach(self) -> None:
        """Read each feed's current phase, its aggregator and latest round from the chain."""
        proxy_abi = contracts.build()["EACAggregatorProxy"]["abi"]
        w3 = self.rpc.web3()
        states = {}
        for feed in self.feeds:
            proxy = w3.eth.contract(feed.proxy, abi=proxy_abi)
            phase = proxy.functions.phaseId().call()
            aggregator = ocr_aggregator(self.rpc, proxy.functions.phaseAggregators(phase).call())
            round_id, answer, _, updated_at, _ = proxy.functions.latestRoundData().call()
            number = round_id & ROUND_MASK
            last = (
                history.SimRound(feed.pair, phase, number, answer, updated_at, updated_at, number) if number else None
            )
            states[feed.pair] = FeedState(feed, self.markets[feed.pair], phase, aggregator, last)
        self.states = states
        if self.trader:
            self.trader.attach(self.rpc)

    def publish_until(self, now: float) -> list[Publication]:
        """Publish, by the rule, every market step after the last one observed (or the node's head)
        up to `now`, in blocks in time order; return what was published."""
        if self.lock is None:
            return self._publish_until(now)
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        with self.lock.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._publish_until(now)

    def _chain_changed(self) -> bool:
        """True if the block seen after the last publication is gone (the node was reset and replayed)."""
        if self.seen_block is None:
            return False
        number, block_hash = self.seen_block
        block = self.rpc.call("eth_getBlockByNumber", number, False)
        return block is None or block["hash"] != block_hash

    def _publish_until(self, now: float) -> list[Publication]:
        if self._chain_changed():
            log.warning("the chain changed under the oracle (replayed?): reading it again")
            self.states, self.observed_until = {}, 0
        if not self.states:
            self.attach()
        if self.halted is not None and self.halted():
            self.observed_until = max(self.observed_until, now)
            return []
        moves = load_moves(self.moves_file)
        after = max(self.observed_until, head_timestamp(self.rpc))
        blocks: dict[int, list[Publication]] = defaultdict(list)
        for state in self.states.values():
            state.market.moves = moves
            for publication in rounds_between(state.feed, state.market, state.phase, state.last, after, now):
                blocks[publication.round.updated_at].append(publication)
        trades = self.trader.trades(after, now) if self.trader else {}
        published = []
        for at in sorted(blocks.keys() | trades.keys()):
            rounds = [(self.states[p.round.pair].aggregator, [p.round]) for p in blocks[at]]
            mine_rounds(self.rpc, at, rounds, trades.get(at, []))
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
        latest = self.rpc.call("eth_getBlockByNumber", "latest", False)
        self.seen_block = (latest["number"], latest["hash"])
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
                "oracle_frozen_until": _frozen(s.market, self.observed_until),
            }
        return {
            "label": history.LABEL,
            "rpc": self.rpc.url,
            "observed_until": utc(self.observed_until) if self.observed_until else None,
            "published": self.published,
            "halted": bool(self.halted and self.halted()),
            "error": self.error,
            "feeds": feeds,
            "pools": {
                a: {"tick": t, "liquidity": str(liq)}
                for a, (t, liq) in (self.trader.current if self.trader else {}).items()
            },
        }


def _frozen(market: LiveMarket, observed_until: float) -> str | None:
    """When the feed's frozen-oracle move ends, if one covers the oracle's latest market step."""
    if not observed_until:
        return None
    until = market.frozen_until(int(observed_until))
    return utc(until) if until else None
