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
    from chainlink_feeds.registry import Feed

log = logging.getLogger(__name__)

PHASES_IN_SNAPSHOT = 15


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


class FeedReader:
    """Reads one feed's rounds for [start, end) at a pinned block."""

    def __init__(self, hook: ChainlinkHook, feed: Feed, cache: PhaseCache | None = None) -> None:
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
        names = ["phaseId", "latestRoundData", "decimals", "description"]
        calls = [(proxy, PROXY[n].encode()) for n in names]
        calls += [(proxy, PROXY["phaseAggregators"].encode(p)) for p in range(1, PHASES_IN_SNAPSHOT + 1)]
        # Is a cached closed range still right? Its first and last rounds must be as cached and the
        # round after it missing (an old aggregator may keep reporting after the switch).
        probes = [
            proxy_round_id(p, n)
            for p, r in self.cache.ranges(self.feed.chain_id, proxy).items()
            for n in (1, r.last_round, r.last_round + 1)
        ]
        calls += [(proxy, PROXY["getRoundData"].encode(rid)) for rid in probes]
        cached = self.cache.activations(self.feed.chain_id, proxy)
        stamp_blocks = sorted({b for a in cached for b in (a.block - 1, a.block) if a.block})
        self.block, answers, stamps = self.hook.snapshot(calls, self.feed.chain_id, stamp_blocks)
        answers, probed = answers[: len(calls) - len(probes)], answers[len(calls) - len(probes) :]
        for rid, data in zip(probes, probed, strict=True):
            self._keep(rid, data)
        # latestRoundData reverts on a FluxAggregator phase without rounds yet: the phase is empty.
        failed = [n for n, a in zip(names, answers, strict=False) if not a and n != "latestRoundData"]
        if failed:
            raise NotAFeedError(
                f"{self.feed.pair}: {proxy} on {self.feed.chain} is not a Chainlink proxy "
                f"({', '.join(failed)} reverted or returned nothing)"
            )
        try:
            (phase,) = PROXY["phaseId"].decode(answers[0])
            latest = Round(*PROXY["latestRoundData"].decode(answers[1])) if answers[1] else None
            (decimals,) = PROXY["decimals"].decode(answers[2])
            (description,) = PROXY["description"].decode(answers[3])
            speculative = answers[len(names) :]
            if phase > PHASES_IN_SNAPSHOT:
                speculative += self.hook.call_many(
                    [(proxy, PROXY["phaseAggregators"].encode(p)) for p in range(PHASES_IN_SNAPSHOT + 1, phase + 1)],
                    self.block,
                )
            aggregators = {
                p: PROXY["phaseAggregators"].decode(a)[0] if a else ZERO_ADDRESS
                for p, a in zip(range(1, phase + 1), speculative, strict=False)
            }
        except Exception as exc:
            raise FeedMismatchError(f"{self.feed.pair}: {proxy} does not answer the proxy ABI: {exc}") from exc
        if decimals != self.feed.decimals:
            raise FeedMismatchError(
                f"{self.feed.pair}: proxy reports {decimals} decimals, the registry says {self.feed.decimals}"
            )
        if description != self.feed.description:
            raise FeedMismatchError(
                f"{self.feed.pair}: proxy describes itself as {description!r}, "
                f"the registry expects {self.feed.description!r}"
            )
        if latest is None:
            latest = Round(proxy_round_id(phase, 0), 0, 0, 0, 0)
        if latest.exists and latest.phase_id != phase:
            raise FeedMismatchError(
                f"{self.feed.pair}: latest round is in phase {latest.phase_id}, proxy phase is {phase}"
            )
        return phase, latest, aggregators, stamps

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
        s, e = int(start.timestamp()), int(end.timestamp())
        current, latest, aggregators, stamps = self._metadata()
        activations = find_activations(self.hook, self.feed, current, aggregators, self.block, self.cache, stamps)
        if latest.exists:
            self._rounds[latest.round_id] = latest
        served: dict[int, ServedRound] = {}
        unserved: list[Rejection] = []
        carry: ServedRound | None = None
        serving_at_start = max((p for p, a in activations.items() if a.timestamp < s), default=None)
        phases_read = []
        for phase in range(current, 0, -1):
            begins = activations[phase].timestamp
            ends = activations[phase + 1].timestamp if phase < current else math.inf
            if phase == current:
                last, first_ts, last_ts = latest.aggregator_round_id if latest.exists else 0, None, latest.updated_at
            else:
                closed = self._closed_phase(phase, aggregators[phase])
                if closed is None:
                    continue
                last, first_ts, last_ts = closed.last_round, closed.first_updated_at, closed.last_updated_at
            has_window_rounds = last_ts >= s and (first_ts is None or first_ts < e)
            gives_carry_in = phase == serving_at_start
            activates_in_window = s <= begins < e
            if last < 1 or not (has_window_rounds or gives_carry_in or activates_in_window):
                continue
            phases_read.append(phase)
            needs_activation_round = activates_in_window or (has_window_rounds and begins >= s)
            preds: list[Callable[[Round | None], bool]] = [
                lambda r: r is not None and r.updated_at >= s,
                lambda r: r is not None and r.updated_at >= e,
            ]
            if needs_activation_round:
                preds.append(lambda r, at=begins: r is not None and r.updated_at > at)
            found = self._search(phase, [[1, last + 1] for _ in preds], preds, read_all=True)
            lo, hi = found[0], found[1]
            self._fetch([proxy_round_id(phase, n) for n in range(max(1, lo - 1), hi)])
            first_served = self._price_round_at_or_before(phase, found[2] - 1) if needs_activation_round else None
            if first_served is not None and first_served.updated_at >= ends:
                first_served = None  # the phase was current for no time at all (two switches in one block)
            if first_served is not None and activates_in_window:
                served[first_served.round_id] = ServedRound(first_served, begins)
            # The window's rounds lie between the boundaries, by position: a round there with a bad
            # timestamp is kept so validation can reject it with its reason.
            for n in range(lo, hi):
                r = self._round(phase, n)
                if r is None or r.round_id in served:
                    continue
                if reason := problem(r):  # not a price at all (timed out, zero or bad timestamps)
                    unserved.append(Rejection(r, reason))
                elif r.updated_at >= ends:
                    unserved.append(
                        Rejection(
                            r, f"never served: updated after the proxy switched to phase {phase + 1} at {_utc(ends)}"
                        )
                    )
                elif r.updated_at >= begins:
                    served[r.round_id] = ServedRound(r, r.updated_at)
                elif first_served is None or r.round_id != first_served.round_id:
                    unserved.append(
                        Rejection(
                            r, f"never served: superseded before the proxy switched to phase {phase} at {_utc(begins)}"
                        )
                    )
            if gives_carry_in:
                before = self._price_round_at_or_before(phase, lo - 1)
                carry = ServedRound(before, max(before.updated_at, begins)) if before else None
        if carry is None and serving_at_start is not None:
            carry = self._served_before_phase(serving_at_start, activations, aggregators)
        rounds = sorted(served.values(), key=lambda x: (x.served_from, x.round.round_id))
        log.info(
            "%s: %s served rounds in [%s, %s) from phase(s) %s at block %s, carry-in round %s, %s not served",
            self.feed.pair,
            len(rounds),
            start.isoformat(),
            end.isoformat(),
            phases_read,
            self.block,
            carry.round.round_id if carry else None,
            len(unserved),
        )
        return WindowRead(self.block, rounds, carry, unserved, activations, phases_read)
