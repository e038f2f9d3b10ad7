"""When a proxy switched to each phase, and the closed phases' round ranges, cached between runs.

`EACAggregatorProxy` (0.6.6) emits no event when it changes phase: the switch is visible only as
`phaseId()` changing between two blocks. Phase ids only grow, so the first block whose
`phaseId()` is at least p is found by a k-ary search over block numbers: each round reads
PROBES_PER_RANGE evenly spaced past blocks in every phase's candidate range, all in one JSON-RPC
batch, and narrows each range eightfold, so a mainnet proxy's switches are found in about eight
requests and 60 past-block reads per switch, once. A chain's task searches all its proxies
together (`prefetch_activations`): where Multicall3 is deployed every proxy is read at every probe
block, one aggregate3 per block. That needs a node with historical state (an archive node);
without one, the registry's `phase_activations` pins the switch times by hand. Where the node can
answer, a pin is checked against the chain and must fall in the switch block's second or the gap
before it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from chainlink_feeds.abi import PROXY, ZERO_ADDRESS
from chainlink_feeds.errors import HistoricalStateUnavailableError, PhaseActivationError

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.registry import Feed

log = logging.getLogger(__name__)

SOURCE_CHAIN, SOURCE_REGISTRY = "chain", "registry"
# Blocks probed in each candidate range per round of the switch search. Each past block read costs the
# node a past state (and a provider an eth_call): a few probes over more rounds cost far fewer reads
# than one wide batch (200 probes: about 200 reads per switch; 7: about 35 on the local node).
PROBES_PER_RANGE = 7


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
        return _search_switch_blocks(hook, {feed.proxy: (wanted, current_phase)}, block, feed.pair)[feed.proxy]
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
    hook: ChainlinkHook,
    feed: Feed,
    blocks: dict[int, int],
    aggregators: dict[int, str],
    cache: PhaseCache,
    switch_stamps: dict[int, int] | None = None,
) -> dict[int, Activation]:
    """The activations at the switch blocks found on chain (phase -> block), timed (`switch_stamps`
    holds the switch blocks' and the blocks' before them, else they are read) and cached."""
    if not blocks:
        return {}
    if switch_stamps is None:
        switch_stamps = hook.block_timestamps(_stamp_blocks(blocks.values()))
    found: dict[int, Activation] = {}
    for phase, at in blocks.items():
        found[phase] = Activation(
            phase, aggregators[phase], at, switch_stamps[at], SOURCE_CHAIN,
            switch_stamps.get(at - 1, switch_stamps[at] - 1),
        )  # fmt: skip
        cache.put(PhaseCache.key("activation", feed.chain_id, feed.proxy, phase, aggregators[phase]), found[phase])
        log.info("%s: phase %s became current at block %s (%s)", feed.pair, phase, at, switch_stamps[at])
    return found


def _stamp_blocks(switch_blocks: Iterable[int]) -> list[int]:
    """The blocks whose times an activation records: each switch block and the one before it."""
    return sorted({b for at in switch_blocks for b in (at - 1, at) if b >= 0})


def prefetch_activations(hook: ChainlinkHook, feeds: Sequence[Feed], cache: PhaseCache) -> None:
    """Find and cache the phase switches of the feeds (one chain's) that have none cached yet, at the
    chain's head, in one search over all their proxies (a fresh deployment's first load: searched
    feed by feed, each proxy's search reads past states of its own).

    Each feed's read (`find_activations`) then finds them cached and checks them as any cached
    switch. Best effort: a node without historical state, or a proxy that does not answer as one,
    is left to that read, which names the problem or uses the registry's pins.
    """
    todo = [f for f in feeds if not cache.activations(f.chain_id, f.proxy)]
    if len(todo) < 2:
        return
    hook.check_chain(todo[0].chain_id)
    block = hook.pinned_block()
    phase_ids = hook.call_many([(f.proxy, PROXY["phaseId"].encode()) for f in todo], block)
    current: dict[Feed, int] = {}
    for feed, answer in zip(todo, phase_ids, strict=True):
        try:
            current[feed] = PROXY["phaseId"].decode(answer)[0] if answer else 0
        except Exception:  # noqa: BLE001 (not a proxy: its own read names it)
            continue
    todo = [f for f in todo if current.get(f, 0) > 0]
    if len(todo) < 2:
        return
    wanted = [(f, p) for f in todo for p in range(1, current[f] + 1)]
    answers = hook.call_many([(f.proxy, PROXY["phaseAggregators"].encode(p)) for f, p in wanted], block)
    aggregators: dict[Feed, dict[int, str]] = {f: {} for f in todo}
    for (feed, phase), answer in zip(wanted, answers, strict=True):
        aggregators[feed][phase] = PROXY["phaseAggregators"].decode(answer)[0] if answer else ZERO_ADDRESS
    try:
        found = _search_switch_blocks(
            hook, {f.proxy: (list(range(1, current[f] + 1)), current[f]) for f in todo}, block,
            ", ".join(f.pair for f in todo),
        )  # fmt: skip
    except HistoricalStateUnavailableError as exc:
        log.info("phase switches not searched together (%s): each feed's read searches its own", exc)
        return
    stamps = hook.block_timestamps(_stamp_blocks(b for f in todo for b in found[f.proxy].values()))
    for feed in todo:
        _activations_at(hook, feed, found[feed.proxy], aggregators[feed], cache, stamps)


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
    hook: ChainlinkHook, searches: dict[str, tuple[list[int], int]], block: int, label: str
) -> dict[str, dict[int, int]]:
    """For each proxy of `searches` ({proxy: (phases, its phaseId() at `block`)}) and each of its
    phases p, the first block at which the proxy's phaseId() is p or more. One search for them all:
    where Multicall3 is deployed every proxy is read at every probe block, one aggregate3 per block
    (`call_at_blocks`), so a chain's proxies cost about the past states of one proxy's search."""
    call = PROXY["phaseId"].encode()
    # proxy -> {block: phaseId() there (0 before the proxy existed)}
    seen: dict[str, dict[int, int]] = {proxy: {block: current} for proxy, (_, current) in searches.items()}
    limit = hook.settings.batch_size

    def bounds(proxy: str, p: int) -> tuple[int, int]:
        below = max((b for b, q in seen[proxy].items() if q < p), default=-1)
        at_or_above = min(b for b, q in seen[proxy].items() if q >= p)
        return below, at_or_above

    while True:
        open_ranges = {
            proxy: [(lo, hi) for lo, hi in (bounds(proxy, p) for p in phases) if hi - lo > 1]
            for proxy, (phases, _) in searches.items()
        }
        searching = [proxy for proxy, ranges in open_ranges.items() if ranges]
        if not searching:
            break
        share = max(1, min(PROBES_PER_RANGE, limit // sum(len(r) for r in open_ranges.values())))
        own: dict[int, set[str]] = {}  # probe block -> the proxies whose ranges it probes
        for proxy in searching:
            for lo, hi in open_ranges[proxy]:
                width = hi - lo - 1  # candidates strictly between lo and hi
                spread = (
                    range(lo + 1, hi)
                    if width <= share
                    else (lo + (hi - lo) * (i + 1) // (share + 1) for i in range(share))
                )
                for b in spread:
                    own.setdefault(b, set()).add(proxy)
        ordered = sorted(own)
        # Where Multicall3 runs, a block's calls cost one eth_call: every proxy is read there (what
        # one learns narrows the others' ranges too); before it, each proxy at its own probes only.
        since = hook.multicall_from(ordered)
        calls = [
            (proxy, call, b)
            for b in ordered
            for proxy in (searching if since is not None and b >= since else sorted(own[b]))
        ]
        try:
            answers = hook.call_at_blocks(calls)
        except HistoricalStateUnavailableError as exc:
            raise HistoricalStateUnavailableError(
                f"{label}: cannot find when the proxy {', '.join(searching)} switched phases: the RPC node does not "
                f"answer phaseId() at past blocks ({exc}). Use an archive node, or pin each phase's activation "
                f"time in the feed registry, e.g. phase_activations: {{2: '2021-06-15T13:37:00Z'}}"
            ) from exc
        for (proxy, _, b), data in zip(calls, answers, strict=True):
            seen[proxy][b] = PROXY["phaseId"].decode(data)[0] if data else 0
        for proxy in searching:
            by_block = [seen[proxy][b] for b in sorted(seen[proxy])]
            if any(later < earlier for earlier, later in zip(by_block, by_block[1:], strict=False)):
                raise HistoricalStateUnavailableError(
                    f"{label}: the node answers phaseId() of {proxy} going down between past blocks "
                    f"({sorted(seen[proxy].items())[:20]}...): its historical state cannot be trusted"
                )
    return {proxy: {p: bounds(proxy, p)[1] for p in phases} for proxy, (phases, _) in searches.items()}
