"""A deterministic, clearly *simulated* price history for every feed in the registry.

The market is a mean-reverting random walk around the peg, sampled every ten minutes, with
scripted episodes. Each feed has two proxy phases, as mainnet's stablecoin feeds do: phase 1 a
FluxAggregator, phase 2 an OCR aggregator. Each aggregator samples the market on its own (so the
two disagree slightly) and publishes a round when its answer moved by the feed's deviation
threshold, or 1 to 300 s after the heartbeat expired (on mainnet, 24 h heartbeats give gaps of
86,401-86,700 s). Scripted on top:

* USDC (and, in sympathy, DAI) depegs the way USDC did in March 2023: down to about 0.88 over
  most of a day, a day near the bottom, and back over about a day and a half.
* The proxy switches to phase 2 in the middle of a UTC day: USDC at 13:40 UTC 13 days before the
  end (three days before the depeg), USDT at 10:25 UTC 120 days before the end, DAI at 15:20 UTC
  170 days before the end (early, so most of DAI's hourly rounds are OCR rounds, one storage slot
  each: the replay's cost grows with the node's state).
* The phases overlap as on mainnet: the OCR aggregator reports "shadow rounds" for SHADOW_DAYS
  before its switch, the Flux aggregator keeps reporting for TAIL_DAYS after it.
* Flux rounds start a few seconds to a minute before they are answered (startedAt < updatedAt);
  a few time out: at FLUX_TIMEOUTS (two days and six hours before the switch, a day after it) a
  round is requested that gets too few submissions. It repeats the previous answer, points
  `answeredInRound` at it, and is updated when the next round starts, FLUX_TIMEOUT_SECONDS later,
  which is answered (so the switch day always holds a phase-1 price round before the switch).
* USDT's oracle misses its heartbeat for about a day and a half (the feed goes stale).

The registry's references (ETH/USD, which prices the WETH pools) get the same two phases and the
same publishing rule over a market of their own: a geometric random walk (REFERENCE_WALKS), for
the last REFERENCE_DAYS only. They price the pools, which trade for the last 30 days
(`pools.POOL_DAYS`); a 200-day ETH/USD (6,270 rounds, a 0.5 % rule on a 0.6 %/h walk) was half of
the whole history's rounds and of the stack's replay. For the same reason only the scripted feeds
(FULL_HISTORY_PAIRS) span the whole history; every other feed launched later, as USDS, PYUSD and GHO
did on mainnet within the last two years: LATER_LAUNCH_DAYS before the end, or with an hourly
heartbeat LATER_LAUNCH_HOURLY_DAYS (its proxy serves nothing before). The replay's cost grows with
the node's state times its blocks (anvil keeps every block's state): over the whole history the
ten feeds added with the wider registry doubled it (217 s -> 458 s).

A pair on an L2 (USDC/USD on Arbitrum) is another oracle over the same market: it sees the same
walk and the same depeg, sampled and published by aggregators of its own (seeded by chain and
pair), launched like an unscripted feed, switching phase at a time of its own, and silent while its
chain's sequencer is down (devstack.simulation.sequencer). The scripted switches, the stale
episode and the full-history span are Ethereum's.

A Scenario is HISTORY_DAYS long (what the tests read), or shorter for the demo (SHORTEST_DAYS, its
replay about half as long): its scripted feeds then span the shorter history, a scripted switch that
does not fit (USDT's, DAI's) is drawn inside it, and USDT's stale episode is left out; the later
launches' and references' rounds, USDC's switch and the depeg's timing are the same (the scripted
feeds' walks start with the history, so their prices differ).

What the proxy serves follows from the phases: see `served`. Everything is a pure function of the
registry and the history's end date and length, so the same rounds can be replayed onto a node and printed as
ground truth.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chainlink_feeds.registry import Feed, Reference, load_market
from chainlink_feeds.rounds import proxy_round_id
from devstack.simulation import sequencer

LABEL = "SIMULATED Chainlink history (not real market data)"
HISTORY_DAYS = 200
TICK_SECONDS = 600
SEED = "stablecoin-peg-monitor/v2"
HEARTBEAT_LATE = (1, 300)  # a heartbeat update lands this many seconds after the heartbeat expired

# Offsets, in days before the history's end, of the scripted episodes.
DEPEG_START = timedelta(days=10, hours=-2)  # 02:00 UTC, ten days before the end
DEPEG_PAIR, DEPEG_SYMPATHY_PAIR = "USDC/USD", "DAI/USD"
PHASE_CHANGE_PAIR = "USDC/USD"
PHASE_CHANGES = {
    "USDC/USD": timedelta(days=13, hours=-13, minutes=-40),  # 13:40 UTC
    "USDT/USD": timedelta(days=120, hours=-10, minutes=-25),  # 10:25 UTC
    "DAI/USD": timedelta(days=170, hours=-15, minutes=-20),  # 15:20 UTC
    "ETH/USD": timedelta(days=20, hours=-9, minutes=-5),  # 09:05 UTC, inside its REFERENCE_DAYS
    "EUR/USD": timedelta(days=22, hours=-10, minutes=-15),  # inside REFERENCE_DAYS
}
# Feeds without a scripted switch switch between 07:00 and 17:00 UTC on a day at least
# SWITCH_MARGIN_DAYS inside their simulated window, drawn from the pair's name: each proxy switches
# at its own time, as on mainnet.
SWITCH_MARGIN_DAYS, SWITCH_MINUTES = 4, (7 * 60, 10 * 60)
PHASE_CHANGE_AT = PHASE_CHANGES[PHASE_CHANGE_PAIR]
SHADOW_DAYS, TAIL_DAYS = 3, 3
# Flux rounds that time out, relative to the switch: two while phase 1 is served, one after.
FLUX_TIMEOUTS = (timedelta(days=-2), timedelta(hours=-6), timedelta(days=1))
FLUX_TIMEOUT_SECONDS = 900  # a requested round times out and the next one starts this much later
SAMPLING_NOISE = {"flux": 0.00004, "ocr": 0.00002}  # each aggregator's own error on the market price
WALK_THETA = 0.02  # the market's pull back to the peg per TICK_SECONDS
WALK_SPREADS = {
    "USDC/USD": 0.0006,
    "USDT/USD": 0.0011,
    "ETH/USD": 0.004,
}  # ETH/USD: its live walk (history: REFERENCE_WALKS)
# A reference's opening level (USD) and hourly volatility: EUR/USD about 7 % a year.
REFERENCE_WALKS = {"ETH/USD": (3_000.0, 0.006), "EUR/USD": (1.08, 0.0009)}
REFERENCE_DAYS = 32  # the pools' 30 days, and the rounds served before their first hour
FULL_HISTORY_PAIRS = frozenset({"USDC/USD", "USDT/USD", "DAI/USD"})  # the scripted episodes' feeds
LATER_LAUNCH_DAYS = 32  # a daily heartbeat: about a round a day
LATER_LAUNCH_HOURLY_DAYS = 10  # an hourly heartbeat: 24 rounds a day
STALE_PAIR = "USDT/USD"
STALE_FROM, STALE_UNTIL = timedelta(days=45, hours=-6), timedelta(days=44, hours=-20)
# The shortest history: the later launches' and references' windows and the depeg, with room for the
# drawn switches. `make demo` replays one this long (devstack.demo): USDT's and DAI's switches are
# drawn inside it and USDT's stale episode is left out, for a replay about half as long.
SHORTEST_DAYS = REFERENCE_DAYS + 3


@dataclass(frozen=True)
class SimRound:
    """One aggregator round as the simulated oracle publishes it (raw integers, Unix seconds)."""

    pair: str
    phase: int
    aggregator_round: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int  # the aggregator round whose answer this is; earlier for a timed-out Flux round

    @property
    def round_id(self) -> int:
        return proxy_round_id(self.phase, self.aggregator_round)

    @property
    def proxy_answered_in_round(self) -> int:
        return proxy_round_id(self.phase, self.answered_in_round)

    @property
    def updated_at_utc(self) -> datetime:
        return datetime.fromtimestamp(self.updated_at, UTC)

    @property
    def is_timed_out(self) -> bool:
        return self.answered_in_round < self.aggregator_round


@dataclass(frozen=True)
class SimPhase:
    """One proxy phase: its aggregator's kind and rounds, and when the proxy switched to it."""

    phase: int
    kind: str  # "flux" or "ocr"
    activated_at: int  # timestamp of the block whose confirmAggregator starts this phase
    rounds: tuple[SimRound, ...]  # aggregator rounds 1..n, updated_at non-decreasing

    def __post_init__(self) -> None:
        if self.kind not in ("flux", "ocr"):
            raise ValueError(f"phase {self.phase}: kind must be 'flux' or 'ocr', got {self.kind!r}")
        numbers = [r.aggregator_round for r in self.rounds]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"phase {self.phase}: aggregator rounds must be 1..n in order")
        if any(r.phase != self.phase for r in self.rounds):
            raise ValueError(f"phase {self.phase}: holds rounds of another phase")
        if any(a.updated_at > b.updated_at for a, b in zip(self.rounds, self.rounds[1:], strict=False)):
            raise ValueError(f"phase {self.phase}: updated_at must not decrease")


@dataclass(frozen=True)
class ServedRound:
    """A round as the proxy serves it: from `served_from` (its updatedAt, or its phase's activation)."""

    round: SimRound
    served_from: int

    @property
    def served_from_utc(self) -> datetime:
        return datetime.fromtimestamp(self.served_from, UTC)


@dataclass(frozen=True)
class Scenario:
    """The history's time frame: [start, end) with `end` a UTC midnight, `days` long (the tests' full
    HISTORY_DAYS, or the demo's shorter one: see SHORTEST_DAYS)."""

    end: datetime
    days: int = HISTORY_DAYS

    def __post_init__(self) -> None:
        if self.end.tzinfo is None or self.end != self.end.replace(hour=0, minute=0, second=0, microsecond=0):
            raise ValueError(f"history end must be a timezone-aware UTC midnight, got {self.end!r}")
        if not SHORTEST_DAYS <= self.days <= HISTORY_DAYS:
            raise ValueError(f"history days must be {SHORTEST_DAYS}..{HISTORY_DAYS}, got {self.days}")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def depeg_start(self) -> datetime:
        return self.end - DEPEG_START

    @property
    def phase_change_at(self) -> datetime:
        """When USDC's proxy switches to phase 2 (the switch the pipeline's tests look at)."""
        return self.end - PHASE_CHANGE_AT

    def phase_change(self, oracle: Feed | Reference) -> datetime:
        """When the oracle's proxy switches to phase 2: its scripted time if the history holds it and
        the shadow rounds before it, else a drawn one (USDT's and DAI's in a short history)."""
        scripted = PHASE_CHANGES.get(oracle.pair) if oracle.chain == "ethereum" else None
        if scripted is not None and scripted + timedelta(days=SHADOW_DAYS + 1) <= self.end - self.start:
            return self.end - scripted
        return self.end - _drawn_switch(oracle, self)

    @property
    def stale_window(self) -> tuple[datetime, datetime]:
        return self.end - STALE_FROM, self.end - STALE_UNTIL


def _drawn_switch(oracle: Feed | Reference, scenario: Scenario) -> timedelta:
    """How long before the history's end an unscripted proxy switches: a day drawn from the pair's
    name, SWITCH_MARGIN_DAYS inside its simulated window at either side, at SWITCH_MINUTES."""
    draw = int.from_bytes(hashlib.sha256(f"{SEED}|{oracle_key(oracle)}|switch".encode()).digest()[:8], "big")
    days = (int(scenario.end.timestamp()) - simulated_from(oracle, scenario)) // 86400 - 2 * SWITCH_MARGIN_DAYS
    first_minute, minutes = SWITCH_MINUTES
    return timedelta(days=SWITCH_MARGIN_DAYS + 1 + draw % days, minutes=-(first_minute + (draw // days) % minutes))


def _depeg_offset(hours: float) -> float:
    """Fractional price offset of the March-2023-shaped depeg, `hours` after it began."""
    if hours < 0 or hours >= 66:
        return 0.0
    if hours < 18:  # the slide to the bottom
        return -0.12 * (1 - math.cos(math.pi * hours / 18)) / 2
    if hours < 30:  # near the bottom, slowly lifting
        return -0.12 + 0.03 * (hours - 18) / 12
    return -0.09 * (1 + math.cos(math.pi * (hours - 30) / 36)) / 2  # recovery


def walk_spread(pair: str) -> float:
    """How far the pair's market wanders from the peg, typically (the walk's scale; devstack.oracle.market
    continues the same walk live)."""
    return WALK_SPREADS.get(pair, 0.0008)


def oracle_key(oracle: Feed | Reference) -> str:
    """What seeds an oracle's own draws: its pair on Ethereum (so Ethereum's history is unchanged by
    the L2s), its chain and pair elsewhere."""
    return oracle.pair if oracle.chain == "ethereum" else f"{oracle.chain}|{oracle.pair}"


def _rng(scenario: Scenario, pair: str) -> random.Random:
    seed = hashlib.sha256(f"{SEED}|{pair}|{scenario.end.date().isoformat()}".encode()).digest()
    return random.Random(seed)


def market_path(feed: Feed | Reference, scenario: Scenario) -> list[tuple[int, float]]:
    """The simulated market price every TICK_SECONDS over the history, as (unix time, price).
    A feed pegged to a reference (EURC/USD to EUR/USD) wanders around that reference's market."""
    if isinstance(feed, Reference):
        return _reference_path(feed, scenario)
    peg = float(feed.peg_usd)
    pegs = {t: level * peg for t, level in market_path(peg_reference(feed), scenario)} if feed.peg_reference else {}
    rng = _rng(scenario, feed.pair)
    theta = WALK_THETA
    sigma = walk_spread(feed.pair) * math.sqrt(2 * theta)
    depeg_start = scenario.depeg_start.timestamp()
    depeg_scale = {DEPEG_PAIR: 1.0, DEPEG_SYMPATHY_PAIR: 0.6}.get(feed.pair, 0.0)
    x = 0.0
    path = []
    begins = simulated_from(feed, scenario)
    # A scripted pair's market runs from the history's start on every chain: an L2 oracle launched
    # later joins the same walk.
    t = int(scenario.start.timestamp()) if feed.pair in FULL_HISTORY_PAIRS else begins
    end = int(scenario.end.timestamp())
    while t < end:
        hours = (t - depeg_start) / 3600
        turbulent = depeg_scale and 0 <= hours < 66
        x = x * (1 - theta) + sigma * rng.gauss(0, 1) * (6 if turbulent else 1)
        if t >= begins:
            path.append((t, pegs.get(t, peg) * (1 + x + depeg_scale * _depeg_offset(hours))))
        t += TICK_SECONDS
    return path


def peg_reference(feed: Feed) -> Feed | Reference:
    """The registry entry whose price is the feed's peg (its `peg_reference`)."""
    return load_market().price_feed(feed.chain, str(feed.peg_reference))


def simulated_from(oracle: Feed | Reference, scenario: Scenario) -> int:
    """When the oracle's simulated market begins (unix time): the history's start for Ethereum's
    scripted feeds, else when it launched (its proxy serves nothing before)."""
    if isinstance(oracle, Feed) and oracle.chain == "ethereum" and oracle.pair in FULL_HISTORY_PAIRS:
        return int(scenario.start.timestamp())
    days = REFERENCE_DAYS if isinstance(oracle, Reference) else _launch_days(oracle)
    return int(scenario.end.timestamp()) - days * 86400


def _launch_days(feed: Feed) -> int:
    """How many days before the end a feed not in FULL_HISTORY_PAIRS launched: a feed pegged to a
    reference a day after it (so each of its rounds has a peg), an hourly one LATER_LAUNCH_HOURLY_DAYS,
    any other LATER_LAUNCH_DAYS."""
    if feed.peg_reference:
        return REFERENCE_DAYS - 1
    if feed.heartbeat_seconds < 86400:
        return LATER_LAUNCH_HOURLY_DAYS
    return LATER_LAUNCH_DAYS


def _reference_path(reference: Reference, scenario: Scenario) -> list[tuple[int, float]]:
    """A reference's market: a geometric random walk from its opening level (no peg to return to)."""
    if reference.pair not in REFERENCE_WALKS:
        raise ValueError(f"no simulated market for reference {reference.pair}: add it to REFERENCE_WALKS")
    level, hourly_vol = REFERENCE_WALKS[reference.pair]
    rng = _rng(scenario, reference.pair)
    sigma = hourly_vol * math.sqrt(TICK_SECONDS / 3600)
    end = int(scenario.end.timestamp())
    path = []
    for t in range(simulated_from(reference, scenario), end, TICK_SECONDS):
        path.append((t, level))
        level *= math.exp(rng.gauss(0, sigma))
    return path


def _active_window(feed: Feed, scenario: Scenario, kind: str) -> tuple[int, int]:
    """[from, until) in which the feed's aggregator of this kind reports."""
    switch = scenario.phase_change(feed)
    if kind == "flux":
        return int(scenario.start.timestamp()), int((switch + timedelta(days=TAIL_DAYS)).timestamp())
    return int((switch - timedelta(days=SHADOW_DAYS)).timestamp()), int(scenario.end.timestamp())


def observations(feed: Feed, scenario: Scenario, kind: str) -> list[tuple[int, int]]:
    """What the feed's aggregator of this kind observes, as (tick, answer), while it reports.

    Each aggregator samples the market with an error of its own; ticks in USDT's outage, and on an L2
    while its sequencer is down, are missing.
    """
    rng = _rng(scenario, f"{oracle_key(feed)}|{kind}|sampling")
    on_l2 = feed.chain != "ethereum"
    active_from, active_until = _active_window(feed, scenario, kind)
    stale_from, stale_until = (t.timestamp() for t in scenario.stale_window)
    seen = []
    for tick, price in market_path(feed, scenario):
        noise = rng.gauss(0, SAMPLING_NOISE[kind])
        if not active_from <= tick < active_until:
            continue
        if feed.chain == "ethereum" and feed.pair == STALE_PAIR and stale_from <= tick < stale_until:
            continue  # the oracle is down: the feed misses its heartbeat
        if on_l2 and sequencer.is_down(scenario, tick):
            continue  # no transaction reaches the L2
        seen.append((tick, round(price * (1 + noise) * 10**feed.decimals)))
    return seen


def _aggregator_rounds(feed: Feed, scenario: Scenario, phase: int, kind: str) -> tuple[SimRound, ...]:
    rng = _rng(scenario, f"{oracle_key(feed)}|{kind}|oracle")
    threshold = float(feed.deviation_threshold_pct) / 100
    switch = scenario.phase_change(feed)
    timeouts = sorted(int((switch + offset).timestamp()) for offset in FLUX_TIMEOUTS) if kind == "flux" else []
    rounds: list[SimRound] = []
    last: SimRound | None = None  # the last price round

    def publish(answer: int, started_at: int, updated_at: int, answered_in: int | None = None) -> SimRound:
        number = len(rounds) + 1
        round_ = SimRound(feed.pair, phase, number, answer, started_at, updated_at, answered_in or number)
        rounds.append(round_)
        return round_

    for tick, answer in observations(feed, scenario, kind):
        if last is not None and tick < last.updated_at:
            continue  # a later round already covers this tick
        answered_by = tick + 60 + FLUX_TIMEOUT_SECONDS + 60  # latest time the request's answer can land
        if (
            last is not None
            and timeouts
            and tick >= timeouts[0]
            and answered_by < last.updated_at + feed.heartbeat_seconds
        ):
            timeouts.pop(0)  # a requested round gets too few submissions; the next one starts after the timeout
            opened = tick + rng.randrange(0, 60)
            publish(last.answer, opened, opened + FLUX_TIMEOUT_SECONDS, last.aggregator_round)
            started_at = opened + FLUX_TIMEOUT_SECONDS
            last = publish(answer, started_at, started_at + rng.randrange(3, 61))
            continue
        due = last.updated_at + feed.heartbeat_seconds if last else -math.inf
        if last is None or abs(answer - last.answer) / last.answer >= threshold or due < tick:
            at = tick + rng.randrange(0, 60)  # deviation (or overdue after an outage): now
        elif due < tick + TICK_SECONDS:
            at = due + rng.randrange(HEARTBEAT_LATE[0], HEARTBEAT_LATE[1] + 1)  # just after the heartbeat expired
        else:
            continue
        if kind == "ocr":
            last = publish(answer, at, at)
            continue
        last = publish(answer, at - rng.randrange(3, 61), at)
    return tuple(rounds)


def phases(feed: Feed, scenario: Scenario) -> list[SimPhase]:
    """The feed's proxy phases: 1 a FluxAggregator from the history's start, 2 an OCR aggregator."""
    shadow_from = scenario.phase_change(feed) - timedelta(days=SHADOW_DAYS + 1)
    if shadow_from.timestamp() < simulated_from(feed, scenario):
        raise ValueError(
            f"{feed.pair}: its switch {scenario.phase_change(feed)} leaves no phase-1 rounds in its simulated "
            "window: give it a later one in PHASE_CHANGES"
        )
    return [
        SimPhase(1, "flux", int(scenario.start.timestamp()), _aggregator_rounds(feed, scenario, 1, "flux")),
        SimPhase(2, "ocr", int(scenario.phase_change(feed).timestamp()), _aggregator_rounds(feed, scenario, 2, "ocr")),
    ]


def _served_and_not(feed_phases: list[SimPhase]) -> tuple[list[ServedRound], list[SimRound]]:
    served_rounds, never = [], []
    for i, phase in enumerate(feed_phases):
        until = feed_phases[i + 1].activated_at if i + 1 < len(feed_phases) else math.inf
        price_rounds = [r for r in phase.rounds if not r.is_timed_out]
        carry = next((r for r in reversed(price_rounds) if r.updated_at <= phase.activated_at), None)
        for r in price_rounds:
            if r.updated_at < until and (r.updated_at >= phase.activated_at or r is carry):
                served_rounds.append(ServedRound(r, max(r.updated_at, phase.activated_at)))
            else:
                never.append(r)
    served_rounds.sort(key=lambda s: (s.served_from, s.round.round_id))
    return served_rounds, never


def served(feed_phases: list[SimPhase]) -> list[ServedRound]:
    """What the proxy serves, ordered by (served_from, round id).

    Phase p is served from its activation A_p until A_{p+1}. A price round (not timed out) of p,
    updated at u, is served iff u < A_{p+1} and (u >= A_p, or it is p's last price round with
    u <= A_p: the answer the proxy shows at the switch); it is served from max(u, A_p).
    """
    return _served_and_not(feed_phases)[0]


def never_served(feed_phases: list[SimPhase]) -> list[SimRound]:
    """Price rounds the proxy never served: shadow rounds superseded before their phase's
    activation, and the old phase's rounds at or after the switch."""
    return _served_and_not(feed_phases)[1]


def rounds_in_window(served_rounds: list[ServedRound], start: datetime, end: datetime) -> list[ServedRound]:
    """Served rounds with start <= served_from < end."""
    lo, hi = start.timestamp(), end.timestamp()
    return [s for s in served_rounds if lo <= s.served_from < hi]


def carry_in(served_rounds: list[ServedRound], start: datetime) -> ServedRound | None:
    """The last round served before `start`, which gives a window its opening price."""
    before = [s for s in served_rounds if s.served_from < start.timestamp()]
    return before[-1] if before else None


def price(round_: SimRound, decimals: int) -> Decimal:
    return Decimal(round_.answer).scaleb(-decimals)
