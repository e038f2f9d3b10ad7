"""The live simulated market: the history's mean-reverting walk continued past its end, plus moves.

The walk goes on from its last value at the history's end on a fixed grid (MARKET_STEP_SECONDS),
with the history's pull to the peg and spread rescaled to the finer step, drawn from a seed of
its own. Grid point k's price is a pure function of the feed, the history's end and k, so the
oracle, a restart of it or a test observe the same prices at the same times, whatever their tick.

A *move* (`python -m devstack.oracle move USDC/USD 0.97 --minutes 20`) sets the level the walk
wanders around for a while, then the walk is back at the peg. With `--ramp-minutes` the level
slides there and back linearly instead of jumping, so a 3 % depeg with a 12-minute ramp crosses
the 0.25 % deviation threshold about once a minute each way (a round a minute, as in a real depeg).
With `--oracle-frozen` the feed's oracle publishes nothing while the move lasts (as LUNA/USD's stood
still in May 2022): the pools follow the market, the oracle catches up when the move ends. Moves are
kept in a JSON file in the stack folder, so the running oracle picks one up at its next tick and a
restart replays it.

A reference (ETH/USD) has no peg: its live walk wanders around where its history ended. A feed
pegged to a reference (EURC/USD to EUR/USD) wanders around that reference's live market.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from chainlink_feeds.registry import Feed, Reference
from devstack.simulation import history

MARKET_STEP_SECONDS = 10
MOVE_PRICE_RANGE = (Decimal("0.01"), Decimal("10"))  # a move's price, as a multiple of the feed's peg
MAX_MOVE_MINUTES = 7 * 24 * 60


class MoveError(ValueError):
    """A market move that cannot be made; the message names the bad pair, price or duration."""


@dataclass(frozen=True)
class Walk:
    """Where a feed's live market starts and how it moves: grid point 0 is `origin`, at `x0` off peg."""

    pair: str
    decimals: int
    peg: float
    origin: int  # unix time of grid point 0 (the history's end)
    x0: float  # the walk's relative deviation from the peg at the origin
    spread: float  # the history's spread for the pair (history.walk_spread)
    seed: str
    step: int = MARKET_STEP_SECONDS
    peg_pair: str | None = None  # the reference whose live price, times `peg`, is the peg

    def grid_after(self, after: float, until: float) -> range:
        """Times of the grid points in (after, until], never the origin itself (the history's)."""
        first = max(1, math.floor((after - self.origin) / self.step) + 1)
        last = math.floor((until - self.origin) / self.step)
        return range(self.origin + first * self.step, self.origin + last * self.step + 1, self.step)


def continuing(feed: Feed | Reference, scenario: history.Scenario) -> Walk:
    """The live walk that continues the feed's (or reference's) simulated history after its end."""
    _, last_price = history.market_path(feed, scenario)[-1]  # the depeg episode is over by the end
    peg = float(feed.peg_usd) if isinstance(feed, Feed) else last_price
    reference = history.peg_reference(feed) if isinstance(feed, Feed) and feed.peg_reference else None
    level = peg * history.market_path(reference, scenario)[-1][1] if reference else peg
    return Walk(
        pair=feed.pair,
        decimals=feed.decimals,
        peg=peg,
        origin=int(scenario.end.timestamp()),
        x0=last_price / level - 1,
        spread=history.walk_spread(feed.pair),
        seed=f"{history.SEED}|live|{scenario.end.date().isoformat()}",
        peg_pair=reference.pair if reference else None,
    )


@dataclass(frozen=True)
class Move:
    """The pair's market wanders around `price` for start <= t < end (unix seconds), then around its
    peg; with a ramp, the level slides from the peg to `price` over `ramp` seconds and back before `end`."""

    pair: str
    price: str  # decimal text, exact as given
    start: int
    end: int
    ramp: int = 0
    oracle_frozen: bool = False  # the feed's oracle publishes nothing while the move lasts

    def level(self, peg: float, at: int) -> float:
        """The level at `at` (inside the move)."""
        share = min(1.0, (at - self.start) / self.ramp, (self.end - at) / self.ramp) if self.ramp else 1.0
        return peg + (float(self.price) - peg) * share

    def covers(self, pair: str, at: int) -> bool:
        return self.pair == pair and self.start <= at < self.end


class LiveMarket:
    """What one feed's oracle observes at each grid point: the walk (times a move's level), with the
    OCR aggregator's sampling error. Walks forward incrementally; asking for an earlier time restarts it."""

    def __init__(self, walk: Walk, moves: list[Move] | None = None, peg_market: LiveMarket | None = None) -> None:
        if (walk.peg_pair is None) != (peg_market is None) or (peg_market and peg_market.walk.pair != walk.peg_pair):
            raise ValueError(f"{walk.pair}: its peg market must be {walk.peg_pair}'s, got {peg_market}")
        self.walk = walk
        self.moves = moves or []
        self.peg_market = peg_market
        theta = history.WALK_THETA
        self._keep = (1 - theta) ** (walk.step / history.TICK_SECONDS)  # the history's pull to the peg, per market step
        # The history's walk has stationary deviation spread * sqrt(2θ / (2θ - θ²)); keep it.
        stationary = walk.spread * math.sqrt(2 * theta / (2 * theta - theta**2))
        self._sigma = stationary * math.sqrt(1 - self._keep**2)
        self._restart()

    def _restart(self) -> None:
        digest = hashlib.sha256(f"{self.walk.seed}|{self.walk.pair}".encode()).digest()
        self._rng = random.Random(digest)
        self._k, self._x, self._noise = 0, self.walk.x0, 0.0

    def _at(self, k: int) -> tuple[float, float]:
        """(walk deviation, sampling error) at grid point k."""
        if k < self._k:
            self._restart()
        while self._k < k:
            self._x = self._x * self._keep + self._sigma * self._rng.gauss(0, 1)
            self._noise = self._rng.gauss(0, history.SAMPLING_NOISE["ocr"])
            self._k += 1
        return self._x, self._noise

    def level(self, at: int) -> float:
        """The price the walk wanders around at `at`: the latest move's that covers it, else the peg
        (for a feed pegged to a reference, that reference's market price then)."""
        peg = self.walk.peg * self.peg_market.spot(at) if self.peg_market else self.walk.peg
        covering = [m for m in self.moves if m.covers(self.walk.pair, at)]
        return covering[-1].level(peg, at) if covering else peg

    def spot(self, at: int) -> float:
        """The market price at the last grid point at or before `at` (at or before the origin: where
        the history ended), for a feed whose peg this market is."""
        k = max(0, (at - self.walk.origin) // self.walk.step)
        if k == 0:
            return self.level(self.walk.origin) * (1 + self.walk.x0)
        return self.price(self.walk.origin + k * self.walk.step)

    def frozen_until(self, at: int) -> int | None:
        """The end of a frozen-oracle move covering `at` (None: the oracle publishes as usual)."""
        ends = [m.end for m in self.moves if m.oracle_frozen and m.covers(self.walk.pair, at)]
        return max(ends) if ends else None

    def price(self, at: int) -> float:
        """The market price at grid point `at` (what the pools trade at): the walk, without the oracle's sampling error."""
        k, rest = divmod(at - self.walk.origin, self.walk.step)
        if rest or k < 1:
            raise ValueError(f"{at} is not a grid point after the walk's origin {self.walk.origin}")
        x, _ = self._at(k)
        return self.level(at) * (1 + x)

    def answer(self, at: int) -> int:
        """The answer the oracle observes at grid point `at` (raw integer, the feed's decimals)."""
        k, rest = divmod(at - self.walk.origin, self.walk.step)
        if rest or k < 1:
            raise ValueError(f"{at} is not a grid point after the walk's origin {self.walk.origin}")
        x, noise = self._at(k)
        return round(self.level(at) * (1 + x) * (1 + noise) * 10**self.walk.decimals)


def load_moves(path: Path) -> list[Move]:
    """The moves made so far, oldest first (a later move wins where two cover the same time)."""
    if not path.exists():
        return []
    try:
        return [Move(**m) for m in json.loads(path.read_text())["moves"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise MoveError(f"{path} is not a moves file ({exc}): fix or delete it") from exc


def add_move(
    path: Path,
    feeds: list[Feed | Reference],
    pair: str,
    price: str,
    minutes: float,
    now: float,
    step: int,
    ramp_minutes: float = 0,
    oracle_frozen: bool = False,
) -> Move:
    """Record a move of `pair` to `price` for `minutes` (sliding there and back over `ramp_minutes`;
    with `oracle_frozen`, its oracle silent meanwhile), starting at the first market step at least one step after `now` (so a running oracle, which
    observes up to its own now, sees it before it begins). Market steps fall on multiples of `step`:
    the history ends at a midnight."""
    by_pair = {f.pair: f for f in feeds}
    if pair not in by_pair:
        raise MoveError(f"unknown pair {pair!r}: the registry has {', '.join(sorted(by_pair))}")
    try:
        value = Decimal(price)
    except InvalidOperation:
        raise MoveError(f"price {price!r} for {pair} is not a number") from None
    low, high = (bound * _level(by_pair[pair]) for bound in MOVE_PRICE_RANGE)
    if not value.is_finite() or not low <= value <= high:
        raise MoveError(f"price {price!r} for {pair} must be between {low} and {high} (USD)")
    if not 0 < minutes <= MAX_MOVE_MINUTES:
        raise MoveError(f"--minutes {minutes} for {pair} must be more than 0 and at most {MAX_MOVE_MINUTES}")
    if not 0 <= 2 * ramp_minutes <= minutes:
        raise MoveError(f"--ramp-minutes {ramp_minutes} for {pair} must be between 0 and half of --minutes {minutes}")
    start = (math.floor(now / step) + 2) * step
    move = Move(pair, str(value), start, start + round(minutes * 60), round(ramp_minutes * 60), oracle_frozen)
    moves = [*load_moves(path), move]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"label": history.LABEL, "moves": [asdict(m) for m in moves]}, indent=2))
    tmp.replace(path)
    return move


def _level(feed: Feed | Reference) -> Decimal:
    """What a move's price is bounded around: the peg, or for a reference its simulated opening level."""
    return feed.peg_usd if isinstance(feed, Feed) else Decimal(str(history.REFERENCE_WALKS[feed.pair][0]))


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
