"""Find and read the rounds a Chainlink proxy served in a time window, in few batched RPC requests.

Served semantics: a proxy serves phase p from its activation A_p (see chainlink_feeds.phases)
until A_{p+1}. At any moment the feed's price is the latest price round of the phase being served;
when the phase changes, the new phase's latest round becomes the price at A_p even if it was
updated earlier. So a price round of phase p (timed-out rounds are not prices) with updatedAt u is
served iff u < A_{p+1} and (u >= A_p, or it is the phase's last round with u <= A_p), from
max(u, A_p). A window [start, end) holds the served rounds whose served_from falls in it, plus the
carry-in: the served round in effect just before start. Rounds the proxy never served (a new
aggregator's shadow rounds before the switch, the old one's rounds after it) are returned apart
with their reason, never as prices.

Inside one phase, rounds are numbered 1..last contiguously and their `updatedAt` never decreases,
so boundary rounds are found by a batched k-ary search (each batch of probes narrows the candidate
range by the batch size), never by walking back from the latest round. A round the proxy answers
with zeros (OCR), or a call that reverts (FluxAggregator, unknown phase), does not exist.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chainlink_feeds.abi import PROXY, ZERO_ADDRESS
from chainlink_feeds.errors import FeedMismatchError, NotAFeedError
from chainlink_feeds.phases import Activation, PhaseCache, PhaseRange, find_activations
from chainlink_feeds.rounds import (
    PHASE_OFFSET,
    ROUND_MASK,
    Rejection,
    Round,
    ServedRound,
    problem,
    proxy_round_id,
    split_round_id,
)

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.registry import Feed, Reference

log = logging.getLogger(__name__)

PHASES_IN_SNAPSHOT = 15
METADATA = ("phaseId", "latestRoundData", "decimals", "description")  # the first calls of a read, in order


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class WindowRead:
    """What one read of a window found."""

    block: int
    rounds: list[ServedRound]
    carry_in: ServedRound | None
    unserved: list[Rejection] = field(default_factory=list)
    activations: dict[int, Activation] = field(default_factory=dict)
    phases: list[int] = field(default_factory=list)


@dataclass
class _Window:
    """What the phases read so far hold for a window [start, end) (Unix seconds)."""

    start: int
    end: int
    served: dict[int, ServedRound] = field(default_factory=dict)
    unserved: list[Rejection] = field(default_factory=list)
    carry: ServedRound | None = None
    phases: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Term:
    """When the proxy served a phase: from its activation until the next phase's (never, if current)."""

    phase: int
    begins: int
    ends: float


class FeedReader:
    """Reads one feed's rounds for [start, end) at a pinned block."""

    def __init__(self, hook: ChainlinkHook, feed: Feed | Reference, cache: PhaseCache | None = None) -> None:
        self.hook = hook
        self.feed = feed
        self.cache = cache or PhaseCache()
        self.block = 0
        self._rounds: dict[int, Round | None] = {}

    # -- calls -----------------------------------------------------------------------------

    def _fetch(self, round_ids: list[int]) -> None:
        """Read rounds not read yet, in one batched call."""
        wanted = sorted({r for r in round_ids if r not in self._rounds})
        if not wanted:
            return
        answers = self.hook.call_many([(self.feed.proxy, PROXY["getRoundData"].encode(r)) for r in wanted], self.block)
        for round_id, data in zip(wanted, answers, strict=True):
            self._keep(round_id, data)

    def _keep(self, round_id: int, data: bytes | None) -> None:
        """Remember a getRoundData answer: None for a revert or a round answered with zeros."""
        if data is None:
            self._rounds[round_id] = None
            return
        try:
            values = PROXY["getRoundData"].decode(data)
        except Exception as exc:
            raise FeedMismatchError(f"{self.feed.pair}: getRoundData answer does not decode: {exc}") from exc
        r = Round(round_id, values[1], values[2], values[3], values[4])
        self._rounds[round_id] = r if r.exists else None

    def _round(self, phase: int, number: int) -> Round | None:
        return self._rounds.get(proxy_round_id(phase, number))

    def _metadata(self) -> tuple[int, Round, dict[int, str], dict[int, int]]:
        """Pin the block; read the current phase, latest round, every phase's aggregator, and the
        times of the blocks cached phase switches name (block -> timestamp, to check them).

        One request: the chain check and every call ride in the snapshot. Aggregators of up to
        PHASES_IN_SNAPSHOT earlier phases are asked for speculatively (a phase that does not exist
        answers the zero address), which saves a request on every feed with more than one phase.
        """
        proxy = self.feed.proxy
        calls = [(proxy, PROXY[n].encode()) for n in METADATA]
        calls += [(proxy, PROXY["phaseAggregators"].encode(p)) for p in range(1, PHASES_IN_SNAPSHOT + 1)]
        probes = self._range_probes()
        calls += [(proxy, PROXY["getRoundData"].encode(rid)) for rid in probes]
        cached = self.cache.activations(self.feed.chain_id, proxy)
        stamp_blocks = sorted({b for a in cached for b in (a.block - 1, a.block) if a.block})
        self.block, answers, stamps = self.hook.snapshot(calls, self.feed.chain_id, stamp_blocks)
        answers, probed = answers[: len(calls) - len(probes)], answers[len(calls) - len(probes) :]
        for rid, data in zip(probes, probed, strict=True):
            self._keep(rid, data)
        return (*self._decode_metadata(answers), stamps)

    def _range_probes(self) -> list[int]:
        """The rounds that tell whether each cached closed range is still right: its first and last
        rounds must be as cached and the round after it missing (an old aggregator may keep
        reporting after the switch)."""
        return [
            proxy_round_id(p, n)
            for p, r in self.cache.ranges(self.feed.chain_id, self.feed.proxy).items()
            for n in (1, r.last_round, r.last_round + 1)
        ]

    def _decode_metadata(self, answers: list[bytes | None]) -> tuple[int, Round, dict[int, str]]:
        """The current phase, the latest round (a zero round when the phase has none yet) and every
        phase's aggregator, from the metadata answers; checked against the registry."""
        pair, proxy = self.feed.pair, self.feed.proxy
        # latestRoundData reverts on a FluxAggregator phase without rounds yet: the phase is empty.
        failed = [n for n, a in zip(METADATA, answers, strict=False) if not a and n != "latestRoundData"]
        if failed:
            raise NotAFeedError(
                f"{pair}: {proxy} on {self.feed.chain} is not a Chainlink proxy "
                f"({', '.join(failed)} reverted or returned nothing)"
            )
        try:
            (phase,) = PROXY["phaseId"].decode(answers[0])
            latest = Round(*PROXY["latestRoundData"].decode(answers[1])) if answers[1] else None
            (decimals,) = PROXY["decimals"].decode(answers[2])
            (description,) = PROXY["description"].decode(answers[3])
            aggregators = self._aggregators(phase, answers[len(METADATA) :])
        except Exception as exc:
            raise FeedMismatchError(f"{pair}: {proxy} does not answer the proxy ABI: {exc}") from exc
        self._check_registry(decimals, description)
        if latest is None:
            latest = Round(proxy_round_id(phase, 0), 0, 0, 0, 0)
        if latest.exists and latest.phase_id != phase:
            raise FeedMismatchError(f"{pair}: latest round is in phase {latest.phase_id}, proxy phase is {phase}")
        return phase, latest, aggregators

    def _aggregators(self, phase: int, speculative: list[bytes | None]) -> dict[int, str]:
        """Every phase's aggregator: the speculative answers, and the phases past them asked now."""
        if phase > PHASES_IN_SNAPSHOT:
            speculative += self.hook.call_many(
                [
                    (self.feed.proxy, PROXY["phaseAggregators"].encode(p))
                    for p in range(PHASES_IN_SNAPSHOT + 1, phase + 1)
                ],
                self.block,
            )
        return {
            p: PROXY["phaseAggregators"].decode(a)[0] if a else ZERO_ADDRESS
            for p, a in zip(range(1, phase + 1), speculative, strict=False)
        }

    def _check_registry(self, decimals: int, description: str) -> None:
        if decimals != self.feed.decimals:
            raise FeedMismatchError(
                f"{self.feed.pair}: proxy reports {decimals} decimals, the registry says {self.feed.decimals}"
            )
        if description != self.feed.description:
            raise FeedMismatchError(
                f"{self.feed.pair}: proxy describes itself as {description!r}, "
                f"the registry expects {self.feed.description!r}"
            )

    # -- search ----------------------------------------------------------------------------

    def _known(self, phase: int) -> list[int]:
        return sorted(number for p, number in map(split_round_id, self._rounds) if p == phase)

    def _narrow(self, phase: int, bounds: list[list[int]], preds: list[Callable[[Round | None], bool]]) -> None:
        """Shrink each [lo, hi) so the first n with pred(n) true stays inside, using rounds read."""
        known = self._known(phase)
        for b, pred in zip(bounds, preds, strict=True):
            for n in known:
                if not b[0] <= n < b[1]:
                    continue
                if pred(self._round(phase, n)):
                    b[1] = n
                    break
                b[0] = n + 1

    def _search(
        self, phase: int, bounds: list[list[int]], preds: list[Callable[[Round | None], bool]], read_all: bool
    ) -> list[int]:
        """For each monotone predicate (false ... true over round numbers) find the first true n.

        Each request probes evenly spaced rounds over the open ranges, which shrinks them by the
        request size. With `read_all`, once every round from the lowest to the highest candidate
        fits in one request they are all read at once: that read both settles the boundaries and
        fetches the window's rounds.
        """
        limit = self.hook.settings.max_calls_per_request
        while True:
            self._narrow(phase, bounds, preds)
            open_bounds = [b for b in bounds if b[0] < b[1]]
            if not open_bounds:
                return [b[0] for b in bounds]
            low, high = max(1, min(b[0] for b in bounds) - 1), max(b[1] for b in bounds)
            if read_all and high - low <= limit:
                self._fetch([proxy_round_id(phase, n) for n in range(low, high)])
                continue
            share = max(1, limit // len(open_bounds))
            probes = []
            for lo, hi in open_bounds:
                width = hi - lo
                probes.extend(
                    range(lo, hi) if width <= share else (lo + width * (i + 1) // (share + 1) for i in range(share))
                )
            self._fetch([proxy_round_id(phase, n) for n in probes])

    def _closed_phase(self, phase: int, aggregator: str) -> PhaseRange | None:
        """The round range of an earlier phase, from the cache or found by search."""
        if aggregator == ZERO_ADDRESS:
            return None
        key = PhaseCache.key("range", self.feed.chain_id, self.feed.proxy, phase, aggregator)
        cached = self.cache.get_range(key)
        if cached and self._range_still_holds(phase, cached):
            return cached
        # Existence is monotone over 1..last: probe powers of two first, then narrow down.
        self._fetch([proxy_round_id(phase, 2**i) for i in range(PHASE_OFFSET)])
        (first_missing,) = self._search(phase, [[1, 1 << PHASE_OFFSET]], [lambda r: r is None], read_all=False)
        last = first_missing - 1
        self._fetch([proxy_round_id(phase, 1)])
        first, final = self._round(phase, 1), self._round(phase, last) if last else None
        if first is None or final is None:
            return None
        value = PhaseRange(aggregator, last, first.updated_at, final.updated_at)
        self.cache.put(key, value)
        return value

    def _range_still_holds(self, phase: int, cached: PhaseRange) -> bool:
        """What the metadata request read of a cached range agrees with it."""
        first = self._rounds.get(proxy_round_id(phase, 1))
        last = self._rounds.get(proxy_round_id(phase, cached.last_round))
        after = self._rounds.get(proxy_round_id(phase, cached.last_round + 1), "unasked")
        return (
            first is not None
            and last is not None
            and after is None
            and (first.updated_at, last.updated_at) == (cached.first_updated_at, cached.last_updated_at)
        )

    def _price_round_at_or_before(self, phase: int, number: int) -> Round | None:
        """The phase's last price round numbered `number` or less: a timed-out round points, through
        answeredInRound, at the round whose answer it repeats."""
        while number >= 1:
            self._fetch([proxy_round_id(phase, number)])
            r = self._round(phase, number)
            if r is None or not r.is_timed_out:
                return r
            number = min(number - 1, r.answered_in_round & ROUND_MASK)
        return None

    def _served_before_phase(
        self, phase: int, activations: dict[int, Activation], aggregators: dict[int, str]
    ) -> ServedRound | None:
        """The last round served before `phase` became current: the carry-in while a new phase has
        served no price yet (its first round comes after the window's start)."""
        for older in range(phase - 1, 0, -1):
            closed = self._closed_phase(older, aggregators[older])
            if closed is None:
                continue
            until = activations[older + 1].timestamp
            (after,) = self._search(
                older, [[1, closed.last_round + 1]], [lambda r, at=until: r is not None and r.updated_at >= at], False
            )
            before = self._price_round_at_or_before(older, after - 1)
            if before is not None:
                return ServedRound(before, max(before.updated_at, activations[older].timestamp))
        return None

    # -- the read --------------------------------------------------------------------------

    def read(self, start: datetime, end: datetime) -> WindowRead:
        """The rounds served with start <= served_from < end, the carry-in, and the window's unserved rounds."""
        if start >= end:
            raise ValueError(f"empty window: start {start} is not before end {end}")
        window = _Window(int(start.timestamp()), int(end.timestamp()))
        current, latest, aggregators, stamps = self._metadata()
        activations = find_activations(self.hook, self.feed, current, aggregators, self.block, self.cache, stamps)
        if latest.exists:
            self._rounds[latest.round_id] = latest
        serving_at_start = max((p for p, a in activations.items() if a.timestamp < window.start), default=None)
        for phase in range(current, 0, -1):
            extent = self._extent(phase, current, latest, aggregators)
            if extent is not None:
                ends = activations[phase + 1].timestamp if phase < current else math.inf
                term = _Term(phase, activations[phase].timestamp, ends)
                self._read_phase(window, term, extent, gives_carry_in=phase == serving_at_start)
        if window.carry is None and serving_at_start is not None:
            window.carry = self._served_before_phase(serving_at_start, activations, aggregators)
        rounds = sorted(window.served.values(), key=lambda x: (x.served_from, x.round.round_id))
        log.info(
            "%s: %s served rounds in [%s, %s) from phase(s) %s at block %s, carry-in round %s, %s not served",
            self.feed.pair,
            len(rounds),
            start.isoformat(),
            end.isoformat(),
            window.phases,
            self.block,
            window.carry.round.round_id if window.carry else None,
            len(window.unserved),
        )
        return WindowRead(self.block, rounds, window.carry, window.unserved, activations, window.phases)

    def _extent(
        self, phase: int, current: int, latest: Round, aggregators: dict[int, str]
    ) -> tuple[int, int | None, int] | None:
        """A phase's last round number and its first and last updatedAt (the current phase's first
        is not known); None for an earlier phase without rounds."""
        if phase == current:
            return (latest.aggregator_round_id if latest.exists else 0), None, latest.updated_at
        closed = self._closed_phase(phase, aggregators[phase])
        return None if closed is None else (closed.last_round, closed.first_updated_at, closed.last_updated_at)

    def _read_phase(
        self, window: _Window, term: _Term, extent: tuple[int, int | None, int], gives_carry_in: bool
    ) -> None:
        """Add what one phase holds for the window: its rounds in it, served or not, the round it
        served from its activation if that falls in the window, and the carry-in if the phase was
        the one served at the window's start."""
        last, first_ts, last_ts = extent
        has_window_rounds = last_ts >= window.start and (first_ts is None or first_ts < window.end)
        activates_in_window = window.start <= term.begins < window.end
        if last < 1 or not (has_window_rounds or gives_carry_in or activates_in_window):
            return
        window.phases.append(term.phase)
        needs_activation_round = activates_in_window or (has_window_rounds and term.begins >= window.start)
        lo, hi, *after_activation = self._boundaries(window, term, last, needs_activation_round)
        first_served = self._first_served(term, *after_activation) if after_activation else None
        if first_served is not None and activates_in_window:
            window.served[first_served.round_id] = ServedRound(first_served, term.begins)
        self._place(window, term, range(lo, hi), first_served)
        if gives_carry_in:
            before = self._price_round_at_or_before(term.phase, lo - 1)
            window.carry = ServedRound(before, max(before.updated_at, term.begins)) if before else None

    def _boundaries(self, window: _Window, term: _Term, last: int, past_activation: bool) -> list[int]:
        """The phase's first rounds updated at or after the window's start and its end (and, with
        `past_activation`, after the phase's activation); the rounds between the first two are read."""
        s, e = window.start, window.end
        preds: list[Callable[[Round | None], bool]] = [
            lambda r: r is not None and r.updated_at >= s,
            lambda r: r is not None and r.updated_at >= e,
        ]
        if past_activation:
            preds.append(lambda r, at=term.begins: r is not None and r.updated_at > at)
        found = self._search(term.phase, [[1, last + 1] for _ in preds], preds, read_all=True)
        self._fetch([proxy_round_id(term.phase, n) for n in range(max(1, found[0] - 1), found[1])])
        return found

    def _first_served(self, term: _Term, after_activation: int) -> Round | None:
        """The price round the phase served from its activation: its last one updated by then."""
        first = self._price_round_at_or_before(term.phase, after_activation - 1)
        if first is not None and first.updated_at >= term.ends:
            return None  # the phase was current for no time at all (two switches in one block)
        return first

    def _place(self, window: _Window, term: _Term, numbers: range, first_served: Round | None) -> None:
        """Sort the phase's rounds between the window's boundaries into served and unserved. They lie
        there by position: a round with a bad timestamp is kept so validation rejects it with its reason."""
        for n in numbers:
            r = self._round(term.phase, n)
            if r is None or r.round_id in window.served:
                continue
            placed = _placement(r, term, first_served)
            if isinstance(placed, ServedRound):
                window.served[r.round_id] = placed
            elif placed is not None:
                window.unserved.append(placed)


def _placement(r: Round, term: _Term, first_served: Round | None) -> ServedRound | Rejection | None:
    """A round of the phase in the window: served from its updatedAt, or rejected with why it is no
    price or was never served; None for the round served from the activation (placed already)."""
    if reason := problem(r):  # not a price at all (timed out, zero or bad timestamps)
        return Rejection(r, reason)
    if r.updated_at >= term.ends:
        return Rejection(
            r, f"never served: updated after the proxy switched to phase {term.phase + 1} at {_utc(term.ends)}"
        )
    if r.updated_at >= term.begins:
        return ServedRound(r, r.updated_at)
    if first_served is None or r.round_id != first_served.round_id:
        return Rejection(
            r, f"never served: superseded before the proxy switched to phase {term.phase} at {_utc(term.begins)}"
        )
    return None
