"""Find and read every round of a time window on a Chainlink proxy, in few batched RPC requests.

Inside one phase, rounds are numbered 1..last contiguously and their `updatedAt` never decreases,
so the window's boundary rounds are found by a batched k-ary search (each batch of probes narrows
the candidate range by the batch size), never by walking back from the latest round. A round the
proxy answers with zeros, or a call that reverts (unknown phase), does not exist.

Two phases reporting in the same window: every round of every phase whose `updatedAt` falls in the
window is read; they are told apart by their proxy round ids (phase in the high bits) and ordered
by (`updatedAt`, round id) downstream, so a newer phase wins a tie.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from chainlink_feeds.abi import PROXY
from chainlink_feeds.errors import FeedMismatchError, NotAFeedError
from chainlink_feeds.rounds import Round, proxy_round_id

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.registry import Feed

log = logging.getLogger(__name__)

ZERO_ADDRESS = "0x" + "0" * 40
ROUND_MASK = (1 << 64) - 1
PHASES_IN_SNAPSHOT = 15


@dataclass(frozen=True)
class PhaseRange:
    """A closed phase's rounds: 1..last_round, first and last `updatedAt`. Never changes."""

    aggregator: str
    last_round: int
    first_updated_at: int
    last_updated_at: int


class PhaseRangeCache:
    """Closed phases' round ranges, in memory and optionally in a JSON file shared between runs."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._data: dict[str, dict] = {}
        if self.path and self.path.exists():
            try:
                self._data = json.loads(self.path.read_text())
            except ValueError:
                log.warning("ignoring unreadable phase cache %s", self.path)

    @staticmethod
    def key(chain_id: int, proxy: str, phase: int, aggregator: str) -> str:
        return f"{chain_id}:{proxy.lower()}:{phase}:{aggregator.lower()}"

    def get(self, key: str) -> PhaseRange | None:
        raw = self._data.get(key)
        return PhaseRange(**raw) if raw else None

    def put(self, key: str, value: PhaseRange) -> None:
        self._data[key] = value.__dict__
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._data))
            tmp.replace(self.path)


@dataclass
class WindowRead:
    """What one read of a window found."""

    block: int
    rounds: list[Round]
    carry_in: Round | None
    phases: list[int] = field(default_factory=list)


class FeedReader:
    """Reads one feed's rounds for [start, end) at a pinned block."""

    def __init__(self, hook: ChainlinkHook, feed: Feed, cache: PhaseRangeCache | None = None) -> None:
        self.hook = hook
        self.feed = feed
        self.cache = cache or PhaseRangeCache()
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
            if data is None:
                self._rounds[round_id] = None
                continue
            try:
                values = PROXY["getRoundData"].decode(data)
            except Exception as exc:
                raise FeedMismatchError(f"{self.feed.pair}: getRoundData answer does not decode: {exc}") from exc
            r = Round(round_id, values[1], values[2], values[3], values[4])
            self._rounds[round_id] = r if r.exists else None

    def _round(self, phase: int, number: int) -> Round | None:
        return self._rounds.get(proxy_round_id(phase, number))

    def _metadata(self) -> tuple[int, Round, dict[int, str]]:
        """Pin the block; read the current phase, latest round and earlier phases' aggregators.

        One request: the chain check and every call ride in the snapshot. Aggregators of up to
        PHASES_IN_SNAPSHOT earlier phases are asked for speculatively (a phase that does not exist
        answers the zero address), which saves a request on every feed with more than one phase.
        """
        proxy = self.feed.proxy
        names = ["phaseId", "latestRoundData", "decimals", "description"]
        calls = [(proxy, PROXY[n].encode()) for n in names]
        calls += [(proxy, PROXY["phaseAggregators"].encode(p)) for p in range(1, PHASES_IN_SNAPSHOT + 1)]
        self.block, answers = self.hook.snapshot(calls, self.feed.chain_id)
        failed = [n for n, a in zip(names, answers, strict=False) if not a]  # reverted, or no code there
        if failed:
            raise NotAFeedError(
                f"{self.feed.pair}: {proxy} on {self.feed.chain} is not a Chainlink proxy "
                f"({', '.join(failed)} reverted or returned nothing)"
            )
        try:
            (phase,) = PROXY["phaseId"].decode(answers[0])
            latest = Round(*PROXY["latestRoundData"].decode(answers[1]))
            (decimals,) = PROXY["decimals"].decode(answers[2])
            (description,) = PROXY["description"].decode(answers[3])
            speculative = answers[len(names) :]
            if phase > PHASES_IN_SNAPSHOT + 1:
                speculative += self.hook.call_many(
                    [(proxy, PROXY["phaseAggregators"].encode(p)) for p in range(PHASES_IN_SNAPSHOT + 1, phase)],
                    self.block,
                )
            aggregators = {
                p: PROXY["phaseAggregators"].decode(a)[0] if a else ZERO_ADDRESS
                for p, a in zip(range(1, phase), speculative, strict=False)
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
        if latest.phase_id != phase:
            raise FeedMismatchError(
                f"{self.feed.pair}: latest round is in phase {latest.phase_id}, proxy phase is {phase}"
            )
        return phase, latest, aggregators

    # -- search ----------------------------------------------------------------------------

    def _known(self, phase: int) -> list[int]:
        return sorted(rid & ROUND_MASK for rid in self._rounds if rid >> 64 == phase)

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
        key = PhaseRangeCache.key(self.feed.chain_id, self.feed.proxy, phase, aggregator)
        cached = self.cache.get(key)
        if cached:
            return cached
        # Existence is monotone over 1..last: probe powers of two first, then narrow down.
        self._fetch([proxy_round_id(phase, 2**i) for i in range(64)])
        (first_missing,) = self._search(phase, [[1, 2**64]], [lambda r: r is None], read_all=False)
        last = first_missing - 1
        self._fetch([proxy_round_id(phase, 1)])
        first, final = self._round(phase, 1), self._round(phase, last) if last else None
        if first is None or final is None:
            return None
        value = PhaseRange(aggregator, last, first.updated_at, final.updated_at)
        self.cache.put(key, value)
        return value

    # -- the read --------------------------------------------------------------------------

    def read(self, start: datetime, end: datetime) -> WindowRead:
        """Every round with start <= updatedAt < end in every phase, plus the carry-in round."""
        if start >= end:
            raise ValueError(f"empty window: start {start} is not before end {end}")
        s, e = int(start.timestamp()), int(end.timestamp())
        current, latest, aggregators = self._metadata()
        if latest.exists:
            self._rounds[latest.round_id] = latest
        window: list[Round] = []
        carry: Round | None = None
        phases_read = []
        for phase in range(current, 0, -1):
            if phase == current:
                last, last_ts = latest.aggregator_round_id, latest.updated_at
            else:
                closed = self._closed_phase(phase, aggregators[phase])
                if closed is None:
                    continue
                last, last_ts = closed.last_round, closed.last_updated_at
            if last < 1 or (carry is not None and last_ts < carry.updated_at):
                break  # this phase, and every older one, ends before the carry-in already found
            phases_read.append(phase)
            lo, hi = self._search(
                phase,
                [[1, last + 1], [1, last + 1]],
                [lambda r: r is not None and r.updated_at >= s, lambda r: r is not None and r.updated_at >= e],
                read_all=True,
            )
            self._fetch([proxy_round_id(phase, n) for n in range(max(1, lo - 1), hi)])
            # The window's rounds are those between the boundaries, by position: a round there
            # with a bad timestamp is kept so validation can reject it with its reason.
            window.extend(r for n in range(lo, hi) if (r := self._round(phase, n)) is not None)
            before = self._round(phase, lo - 1) if lo > 1 else None
            if before is not None and (
                carry is None or (before.updated_at, before.round_id) > (carry.updated_at, carry.round_id)
            ):
                carry = before
        window.sort(key=lambda r: r.round_id)
        log.info(
            "%s: %s rounds in [%s, %s) from phase(s) %s at block %s, carry-in round %s",
            self.feed.pair,
            len(window),
            start.isoformat(),
            end.isoformat(),
            phases_read,
            self.block,
            carry.round_id if carry else None,
        )
        return WindowRead(self.block, window, carry, phases_read)
