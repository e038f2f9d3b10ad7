"""UTC times to block numbers: the last block at or before each time, found for many times at once.

A k-ary search over `eth_getBlockByNumber`: each round probes PROBES blocks inside every time's
bracket, all times together in one JSON-RPC batch, so the 25 hour marks of a day cost about as many
HTTP requests as one time does (log_PROBES of the chain's height, about 5 on mainnet).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook

PROBES = 32  # blocks probed per bracket per round


def blocks_at(hook: ChainlinkHook, times: Iterable[int], head: int) -> dict[int, int | None]:
    """For each Unix time, the last block (<= `head`) whose timestamp is at or before it; None for a
    time before the first block."""
    wanted = sorted(set(times))
    stamps = hook.block_timestamps([0, head])
    # Invariant per time t: stamp(lo) <= t < stamp(hi), with hi = head + 1 meaning "after the head".
    brackets = {t: (0, head + 1) for t in wanted if t >= stamps[0]}
    if stamps[head] <= max(wanted, default=-1):
        brackets |= {t: (head, head + 1) for t in wanted if t >= stamps[head]}
    while open_ := {t: b for t, b in brackets.items() if b[1] - b[0] > 1}:
        probes = sorted({p for lo, hi in open_.values() for p in _spread(lo, hi)})
        stamps |= hook.block_timestamps(probes)
        for t, (lo, hi) in open_.items():
            inside = _spread(lo, hi)
            lo = max([lo, *(p for p in inside if stamps[p] <= t)])
            hi = min([hi, *(p for p in inside if stamps[p] > t)])
            brackets[t] = (lo, hi)
    return {t: brackets[t][0] if t in brackets else None for t in wanted}


def _spread(lo: int, hi: int) -> list[int]:
    """Up to PROBES blocks strictly between lo and hi, evenly spaced."""
    span = hi - lo
    if span <= PROBES + 1:
        return list(range(lo + 1, hi))
    return sorted({lo + span * i // (PROBES + 1) for i in range(1, PROBES + 1)})
