"""When a proxy switched to each phase, and the closed phases' round ranges, cached between runs.

`EACAggregatorProxy` (0.6.6) emits no event when it changes phase: the switch is visible only as
`phaseId()` changing between two blocks. Phase ids only grow, so the first block whose
`phaseId()` is at least p is found by a k-ary search over block numbers: each JSON-RPC batch of
`eth_call`s at evenly spaced past blocks (Multicall3 runs at one block only) narrows every phase's
candidate range by the batch size, so a mainnet proxy's switches are found in about five requests,
once. That needs a node with historical state (an archive node); without one, the registry's
`phase_activations` pins the switch times by hand. Where the node can answer, a pin is checked
against the chain and must fall in the switch block's second or the gap before it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from chainlink_feeds.abi import PROXY
from chainlink_feeds.errors import HistoricalStateUnavailableError, PhaseActivationError

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.registry import Feed

log = logging.getLogger(__name__)

SOURCE_CHAIN, SOURCE_REGISTRY = "chain", "registry"


@dataclass(frozen=True)
class PhaseRange:
    """A closed phase's rounds: 1..last_round, first and last `updatedAt`, as last seen. An old
    aggregator may keep reporting after the switch, so a reader checks round last_round + 1 first."""

    aggregator: str
    last_round: int
    first_updated_at: int
    last_updated_at: int


@dataclass(frozen=True)
class Activation:
    """When the proxy started serving a phase: the block (None when pinned by hand) and its time."""

    phase_id: int
    aggregator: str
    block: int | None
    timestamp: int
    source: str
    previous_block_timestamp: int | None = None  # a pin must fall after it and not after `timestamp`


class PhaseCache:
    """Closed phases' round ranges and phase activations, in memory and optionally in a JSON file
    shared between runs."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._data: dict[str, dict] = {}
        if self.path and self.path.exists():
            try:
                self._data = json.loads(self.path.read_text())
            except ValueError:
                log.warning("ignoring unreadable phase cache %s", self.path)

    @staticmethod
    def _prefix(kind: str, chain_id: int, proxy: str) -> str:
        return f"{kind}:{chain_id}:{proxy.lower()}:"

    @classmethod
    def key(cls, kind: str, chain_id: int, proxy: str, phase: int, aggregator: str) -> str:
        return f"{cls._prefix(kind, chain_id, proxy)}{phase}:{aggregator.lower()}"

    def get_range(self, key: str) -> PhaseRange | None:
        raw = self._data.get(key)
        return PhaseRange(**raw) if raw else None

    def activations(self, chain_id: int, proxy: str) -> list[Activation]:
        """Every cached activation of one proxy (any aggregator)."""
        prefix = self._prefix("activation", chain_id, proxy)
        return [Activation(**v) for k, v in self._data.items() if k.startswith(prefix)]

    def ranges(self, chain_id: int, proxy: str) -> dict[int, PhaseRange]:
        """Every cached closed-phase range of one proxy, by phase."""
        prefix = self._prefix("range", chain_id, proxy)
        return {
            int(k[len(prefix) :].split(":")[0]): PhaseRange(**v) for k, v in self._data.items() if k.startswith(prefix)
        }

    def get_activation(self, key: str) -> Activation | None:
        raw = self._data.get(key)
        return Activation(**raw) if raw else None

    def put(self, key: str, value: PhaseRange | Activation) -> None:
        self._data[key] = asdict(value)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._data))
            tmp.replace(self.path)


def find_activations(
    hook: ChainlinkHook,
    feed: Feed,
    current_phase: int,
    aggregators: dict[int, str],
    block: int,
    cache: PhaseCache,
    stamps: dict[int, int],
) -> dict[int, Activation]:
    """The activation of every phase 1..current_phase, found on chain (cached) where the node can
    answer past blocks, else as pinned in the registry. A pin the chain contradicts is an error.

    A cached activation is used only if its switch block and the block before it still have the
    cached timestamps (`stamps`, read in the reader's first request): a reorganised chain, or another
    chain with aggregators at the same addresses (a local node), is searched again."""
    beyond = sorted(p for p in feed.phase_activations if p > current_phase)
    if beyond:
        raise PhaseActivationError(
            f"{feed.pair}: the registry pins the activation of phase {beyond[0]}, but the proxy {feed.proxy} "
            f"answers phaseId() {current_phase} at block {block}: it never changed to phase {beyond[0]}. "
            f"Fix phase_activations in the feed registry."
        )
    found = _cached_activations(feed, current_phase, aggregators, cache, stamps)
    wanted = [p for p in range(1, current_phase + 1) if p not in found]
    if wanted:
        blocks = _switch_blocks_unless_pinned(hook, feed, wanted, current_phase, block)
        found |= _activations_at(hook, feed, blocks, aggregators, cache)
    _add_pins(feed, found, aggregators)
    times = [found[p].timestamp for p in sorted(found)]
    if any(later < earlier for earlier, later in zip(times, times[1:], strict=False)):
        raise PhaseActivationError(
            f"{feed.pair}: phase activations are out of order ({[(p, found[p].timestamp) for p in sorted(found)]}); "
            "a pinned time in phase_activations disagrees with the chain"
        )
    return found


def _cached_activations(
    feed: Feed, current_phase: int, aggregators: dict[int, str], cache: PhaseCache, stamps: dict[int, int]
) -> dict[int, Activation]:
    """The cached activations whose switch block and the block before it still have their times."""
    found: dict[int, Activation] = {}
    for phase in range(1, current_phase + 1):
        cached = cache.get_activation(
            PhaseCache.key("activation", feed.chain_id, feed.proxy, phase, aggregators[phase])
        )
        if cached and (stamps.get(cached.block), stamps.get(cached.block - 1)) == (
            cached.timestamp,
            cached.previous_block_timestamp,
        ):
            found[phase] = cached
    return found


def _switch_blocks_unless_pinned(
    hook: ChainlinkHook, feed: Feed, wanted: list[int], current_phase: int, block: int
) -> dict[int, int]:
    """The switch block of every `wanted` phase, searched on chain; none when the node has no
    historical state and the registry pins them all (then a pin must not be later than the head)."""
    try:
        return _search_switch_blocks(hook, feed, wanted, current_phase, block)
    except HistoricalStateUnavailableError:
        if any(p not in feed.phase_activations for p in wanted):
            raise
    log.warning("%s: the node has no historical state; using the registry's phase_activations unchecked", feed.pair)
    (head_time,) = hook.block_timestamps([block]).values()
    late = [(p, t) for p, t in sorted(feed.phase_activations.items()) if t.timestamp() > head_time]
    if late:
        raise PhaseActivationError(
            f"{feed.pair}: the registry pins phase {late[0][0]}'s activation at {late[0][1].isoformat()}, "
            f"after block {block} ({datetime.fromtimestamp(head_time, UTC).isoformat()}) at which the proxy "
            f"already serves phase {current_phase}. Fix phase_activations in the feed registry."
        )
    return {}


def _activations_at(
    hook: ChainlinkHook, feed: Feed, blocks: dict[int, int], aggregators: dict[int, str], cache: PhaseCache
) -> dict[int, Activation]:
    """The activations at the switch blocks found on chain (phase -> block), timed and cached."""
    if not blocks:
        return {}
    switch_stamps = hook.block_timestamps(sorted({b for at in blocks.values() for b in (at - 1, at) if b >= 0}))
    found: dict[int, Activation] = {}
    for phase, at in blocks.items():
        found[phase] = Activation(
            phase, aggregators[phase], at, switch_stamps[at], SOURCE_CHAIN,
            switch_stamps.get(at - 1, switch_stamps[at] - 1),
        )  # fmt: skip
        cache.put(PhaseCache.key("activation", feed.chain_id, feed.proxy, phase, aggregators[phase]), found[phase])
        log.info("%s: phase %s became current at block %s (%s)", feed.pair, phase, at, switch_stamps[at])
    return found


def _add_pins(feed: Feed, found: dict[int, Activation], aggregators: dict[int, str]) -> None:
    """Add the registry's pins for phases not found on chain; a pin the chain contradicts is an error."""
    for phase, pinned in sorted(feed.phase_activations.items()):
        pin = int(pinned.timestamp())
        on_chain = found.get(phase)
        if on_chain is None:
            found[phase] = Activation(phase, aggregators[phase], None, pin, SOURCE_REGISTRY)
        elif not on_chain.previous_block_timestamp < pin <= on_chain.timestamp:
            raise PhaseActivationError(
                f"{feed.pair}: the registry pins phase {phase}'s activation at {pinned.isoformat()}, but the proxy "
                f"{feed.proxy} changed phaseId() to {phase} at block {on_chain.block} "
                f"({datetime.fromtimestamp(on_chain.timestamp, UTC).isoformat()}; the block before it is at "
                f"{datetime.fromtimestamp(on_chain.previous_block_timestamp, UTC).isoformat()}). "
                "Fix phase_activations in the feed registry, or remove the pin: this node finds the switch itself."
            )


def _search_switch_blocks(
    hook: ChainlinkHook, feed: Feed, phases: list[int], current_phase: int, block: int
) -> dict[int, int]:
    """For each phase p, the first block at which the proxy's phaseId() is p or more."""
    call = PROXY["phaseId"].encode()
    seen: dict[int, int] = {block: current_phase}  # block -> phaseId() there (0 before the proxy existed)
    limit = hook.settings.batch_size

    def bounds(p: int) -> tuple[int, int]:
        below = max((b for b, q in seen.items() if q < p), default=-1)
        at_or_above = min(b for b, q in seen.items() if q >= p)
        return below, at_or_above

    while True:
        open_ranges = [(lo, hi) for lo, hi in map(bounds, phases) if hi - lo > 1]
        if not open_ranges:
            break
        share = max(1, limit // len(open_ranges))
        probes: set[int] = set()
        for lo, hi in open_ranges:
            width = hi - lo - 1  # candidates strictly between lo and hi
            probes.update(
                range(lo + 1, hi) if width <= share else (lo + (hi - lo) * (i + 1) // (share + 1) for i in range(share))
            )
        ordered = sorted(probes)
        try:
            answers = hook.call_at_blocks([(feed.proxy, call, b) for b in ordered])
        except HistoricalStateUnavailableError as exc:
            raise HistoricalStateUnavailableError(
                f"{feed.pair}: cannot find when the proxy {feed.proxy} switched phases: the RPC node does not "
                f"answer phaseId() at past blocks ({exc}). Use an archive node, or pin each phase's activation "
                f"time in the feed registry, e.g. phase_activations: {{2: '2021-06-15T13:37:00Z'}}"
            ) from exc
        for b, data in zip(ordered, answers, strict=True):
            seen[b] = PROXY["phaseId"].decode(data)[0] if data else 0
        by_block = [seen[b] for b in sorted(seen)]
        if any(later < earlier for earlier, later in zip(by_block, by_block[1:], strict=False)):
            raise HistoricalStateUnavailableError(
                f"{feed.pair}: the node answers phaseId() of {feed.proxy} going down between past blocks "
                f"({sorted(seen.items())[:20]}...): its historical state cannot be trusted"
            )
    return {p: bounds(p)[1] for p in phases}
