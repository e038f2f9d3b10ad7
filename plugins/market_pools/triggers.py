"""PoolMoveTrigger: NewRoundTrigger that also watches the market. Each poll's one JSON-RPC batch
asks the proxies for their latest rounds and the watched pools for `slot0`; besides the round
events it fires {"pool_moves": {pool: [tick before, tick now]}} when a pool's price moved by
`step_bps` or more since the price it last fired at (its first reading is the baseline). A market
that leaves its peg while the oracle stays silent thus starts a run within a poll, as a round does.

With `recheck_after`, a move is looked at again that many seconds later ({"recheck": {pool: tick}}),
and once more as long again after that, whether or not anything moved since: a silent oracle is a
divergence that lasts with nothing published, so the run that can tell it is one a while after the
move (the registry's silent_oracle_minutes), not the move's own; the second look covers a move run
that started late (queued behind another run). A later move adds looks of its own and postpones
none: in a market sliding for minutes (a step every few seconds) the move that crossed the
divergence limit is looked at `recheck_after` after it, not after the slide's last step (a look
due within a poll before, or a quarter period after, one already due is merged into it).

The baseline ticks and a pending recheck are kept in the asset's state store, like the rounds: a
triggerer restart fires for a move made while it was down, and for a recheck that fell due.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.triggers.base import TriggerEvent
from eth_abi.exceptions import DecodingError

from chainlink_feeds.triggers import NewRoundTrigger
from market_pools.abi import SLOT0

POOL_KEY = "pool_ticks"
RECHECK_KEY = "pool_recheck"
RECHECKS = 2  # looks after a move, `recheck_after` apart
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
    """NewRoundTrigger plus `pools`, read in the same batch; fires on a move of `step_bps` or more,
    and `recheck_after` seconds after one."""

    def __init__(
        self, *, pools: list[str], step_bps: float = DEFAULT_STEP_BPS, recheck_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if step_bps <= 0:
            raise ValueError(f"PoolMoveTrigger step_bps must be positive, got {step_bps}")
        if recheck_after is not None and recheck_after <= 0:
            raise ValueError(f"PoolMoveTrigger recheck_after must be positive seconds, got {recheck_after}")
        self.pools = list(pools)
        self.step_bps = step_bps
        self.recheck_after = recheck_after
        self._ticks: dict[str, int] | None = None
        self._recheck: dict[str, Any] | None = None  # {"dues": [unix seconds], "pools": [pool]}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        mine = {"pools": self.pools, "step_bps": self.step_bps, "recheck_after": self.recheck_after}
        return "market_pools.triggers.PoolMoveTrigger", kwargs | mine

    def extra_requests(self) -> list[tuple[str, list[Any]]]:
        data = "0x" + SLOT0.encode().hex()
        return [("eth_call", [{"to": pool, "data": data}, "latest"]) for pool in self.pools]

    async def extra_events(self, answers: list[dict[str, Any]]) -> list[TriggerEvent]:
        ticks = decode_ticks(self.pools, answers)
        if self._ticks is None:
            self._ticks = await self._recall(POOL_KEY) or {}
            self._recheck = await self._recall(RECHECK_KEY) or None
        events = await self._recheck_due(ticks)
        moved = moved_pools(self._ticks, ticks, self.step_bps)
        baseline = {pool: tick for pool, tick in ticks.items() if pool not in self._ticks}
        if not moved and not baseline:
            return events
        self._ticks = self._ticks | baseline | {pool: now for pool, (_, now) in moved.items()}
        await self._remember(POOL_KEY, self._ticks)
        if not moved:
            return events
        self.log.info("pools moved %s bps or more: %s", self.step_bps, moved)
        if self.recheck_after is not None:
            self._recheck = self._armed(self._recheck, sorted(moved), time.time(), self.recheck_after)
            await self._remember(RECHECK_KEY, self._recheck)
        return [*events, TriggerEvent({"pool_moves": moved})]

    def _armed(self, pending: dict[str, Any] | None, pools: list[str], now: float, after: float) -> dict[str, Any]:
        """`pending` plus this move's looks, `after` apart; a look due within a poll before, or a
        quarter period after, one already due is that one (never much earlier: a look before
        silent_oracle_minutes have passed cannot tell a silent oracle)."""
        dues = _dues(pending, after)
        for look in range(1, RECHECKS + 1):
            due = now + look * after
            if not any(due - self.poll_interval <= d <= due + after / 4 for d in dues):
                dues.append(due)
        return {"dues": sorted(dues), "pools": sorted(set(pending["pools"] if pending else []) | set(pools))}

    async def _recheck_due(self, ticks: dict[str, int]) -> list[TriggerEvent]:
        """One recheck event once a look falls due (the looks due by then are spent together)."""
        dues = _dues(self._recheck, self.recheck_after)
        now = time.time()
        if not dues or now < dues[0]:
            return []
        looked = {pool: ticks[pool] for pool in self._recheck["pools"] if pool in ticks}
        left = [d for d in dues if d > now]
        self._recheck = {"dues": left, "pools": self._recheck["pools"]} if left else None
        await self._remember(RECHECK_KEY, self._recheck or {})
        self.log.info("rechecking the pools %s s after a move: %s", self.recheck_after, looked)
        return [TriggerEvent({"recheck": looked})]


def _dues(pending: dict[str, Any] | None, after: float | None) -> list[float]:
    """The pending looks' times; a state stored by the release before ({"due", "left"}) as its looks."""
    if not pending:
        return []
    if "dues" in pending:
        return list(pending["dues"])
    return [pending["due"] + i * (after or 0) for i in range(pending.get("left", 1))]
