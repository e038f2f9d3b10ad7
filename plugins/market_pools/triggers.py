"""PoolMoveTrigger: NewRoundTrigger that also watches the market. Each poll's one JSON-RPC batch
asks the proxies for their latest rounds and the watched pools for `slot0`; besides the round
events it fires {"pool_moves": {pool: [tick before, tick now]}} when a pool's price moved by
`step_bps` or more since the price it last fired at (its first reading is the baseline). A market
that leaves its peg while the oracle stays silent thus starts a run within a poll, as a round does.

The baseline ticks are kept in the asset's state store, like the rounds: a triggerer restart fires
for a move made while it was down.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TriggerEvent
from eth_abi.exceptions import DecodingError

from chainlink_feeds.triggers import NewRoundTrigger
from market_pools.abi import SLOT0

POOL_KEY = "pool_ticks"
DEFAULT_STEP_BPS = 25.0  # USDC/USDT's deviation threshold: the market says as much as the oracle would


def decode_ticks(pools: list[str], answers: list[dict[str, Any]]) -> dict[str, int]:
    """pool -> current tick from slot0 answers in request order; a pool whose call failed is left out."""
    ticks = {}
    for pool, answer in zip(pools, answers, strict=False):
        result = answer.get("result") if isinstance(answer, dict) else None
        try:
            ticks[pool] = SLOT0.decode(bytes.fromhex(result[2:]))[1]
        except (TypeError, ValueError, DecodingError):  # no answer, no code ("0x"), or not a pool
            continue
    return ticks


def moved_pools(seen: dict[str, int], ticks: dict[str, int], step_bps: float) -> dict[str, list[int]]:
    """The pools whose price moved by `step_bps` or more from the tick seen (1.0001 per tick)."""
    return {
        pool: [seen[pool], tick]
        for pool, tick in ticks.items()
        if pool in seen and abs(1.0001 ** (tick - seen[pool]) - 1) * 10_000 >= step_bps
    }


class PoolMoveTrigger(NewRoundTrigger):
    """NewRoundTrigger plus `pools`, read in the same batch; fires on a move of `step_bps` or more."""

    def __init__(self, *, pools: list[str], step_bps: float = DEFAULT_STEP_BPS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if step_bps <= 0:
            raise ValueError(f"PoolMoveTrigger step_bps must be positive, got {step_bps}")
        self.pools = list(pools)
        self.step_bps = step_bps
        self._ticks: dict[str, int] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return "market_pools.triggers.PoolMoveTrigger", kwargs | {"pools": self.pools, "step_bps": self.step_bps}

    def extra_requests(self) -> list[tuple[str, list[Any]]]:
        data = "0x" + SLOT0.encode().hex()
        return [("eth_call", [{"to": pool, "data": data}, "latest"]) for pool in self.pools]

    async def extra_events(self, answers: list[dict[str, Any]]) -> list[TriggerEvent]:
        ticks = decode_ticks(self.pools, answers)
        if self._ticks is None:
            self._ticks = await self._recall(POOL_KEY) or {}
        moved = moved_pools(self._ticks, ticks, self.step_bps)
        baseline = {pool: tick for pool, tick in ticks.items() if pool not in self._ticks}
        if not moved and not baseline:
            return []
        self._ticks = self._ticks | baseline | {pool: now for pool, (_, now) in moved.items()}
        await self._remember(POOL_KEY, self._ticks)
        if not moved:
            return []
        self.log.info("pools moved %s bps or more: %s", self.step_bps, moved)
        return [TriggerEvent({"pool_moves": moved})]
