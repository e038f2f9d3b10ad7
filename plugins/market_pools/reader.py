"""One UTC window of every pool of a chain, read exactly: the price path (each Swap) and readings.

Readings are taken at the window's start and each whole hour after it (the state as of that moment:
the last block at or before it; the first is the window's carry-in, the next window's first is this
one's close), and on request at the window's last second (its own last state: the near-real-time
DAG's windows end now, and the market's verdicts need the price of now): `slot0`, `liquidity`, the TWAP
over the `twap_seconds` before the reading's block from `observe` (None where the pool keeps too few
observations and the call reverts) and sized quotes. Before anything is read, each pool is checked against the registry at the chain's head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chainlink_feeds.errors import HistoricalStateUnavailableError
from chainlink_feeds.registry import to_checksum_address
from market_pools import abi, pricing
from market_pools.blocks import blocks_at
from market_pools.errors import NotAPoolError, PoolMismatchError
from market_pools.logs import swap_logs

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.registry import Pool

HOUR = timedelta(hours=1)
DEFAULT_QUOTE_TOKENS = 1_000_000  # whole tokens sold in a sized quote (about $1M for a stablecoin at its peg)
DEFAULT_TWAP_SECONDS = 1800


@dataclass(frozen=True)
class Reading:
    """A pool's state as of `read_at` (the last block at or before it)."""

    pool: str
    read_at: datetime
    block: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    price: Decimal  # whole token1 per whole token0
    twap_tick: int | None
    sell0_out: int | None  # raw token1 for selling the quote size of token0 (None: not quoted, or no liquidity)
    sell1_out: int | None


@dataclass(frozen=True)
class Swap:
    """One Swap log: the pool's price and in-range liquidity right after it."""

    pool: str
    block: int
    log_index: int
    transaction_hash: str
    swapped_at: datetime
    amount0: int
    amount1: int
    sqrt_price_x96: int
    liquidity: int
    tick: int
    price: Decimal


@dataclass(frozen=True)
class PoolWindow:
    """What one window of a chain's pools holds: blocks first..last are the window's own."""

    start: datetime
    end: datetime
    pools: tuple[str, ...]  # every pool read, with readings or not (created after the window: none)
    first_block: int
    last_block: int
    readings: list[Reading]
    swaps: list[Swap]


class PoolReader:
    """Reads the given pools (all on the hook's chain) window by window."""

    def __init__(
        self,
        hook: ChainlinkHook,
        pools: Sequence[Pool],
        quote_symbols: frozenset[str] = frozenset(),
        quote_tokens: int = DEFAULT_QUOTE_TOKENS,
        twap_seconds: int = DEFAULT_TWAP_SECONDS,
    ) -> None:
        self.hook, self.pools = hook, list(pools)
        self.by_address = {p.address.lower(): p for p in self.pools}
        self.quote_symbols, self.quote_tokens, self.twap_seconds = quote_symbols, quote_tokens, twap_seconds

    def read(self, start: datetime, end: datetime, last_second: bool = False) -> PoolWindow:
        """Check the pools, then read the window [start, end) (UTC), with a reading at end - 1 s too
        when `last_second` (and it is not already a mark)."""
        head = self.hook.pinned_block()
        self.check_pools(head)
        marks = _hour_marks(start, end)
        if last_second and end - timedelta(seconds=1) > marks[-1]:
            marks.append(end - timedelta(seconds=1))
        times = [int(m.timestamp()) for m in marks] + [int(start.timestamp()) - 1, int(end.timestamp()) - 1]
        blocks = blocks_at(self.hook, times, head)
        before, last = blocks[times[-2]], blocks[times[-1]]
        first = 0 if before is None else before + 1
        taken = [(m, blocks[int(m.timestamp())]) for m in marks]
        try:
            readings = self._readings([(m, b) for m, b in taken if b is not None])
        except HistoricalStateUnavailableError as exc:
            raise HistoricalStateUnavailableError(
                f"the node cannot read the pools' state at past blocks ({exc}): readings of "
                f"[{start.isoformat()}, {end.isoformat()}) need an archive node behind the chain's connection"
            ) from exc
        swaps = self._swaps(first, last) if last is not None and last >= first else []
        return PoolWindow(
            start,
            end,
            tuple(self.by_address[a].address for a in self.by_address),
            first,
            -1 if last is None else last,
            readings,
            swaps,
        )

    def check_pools(self, block: int) -> None:
        """Refuse, naming the pool and field, a pool with no code or whose tokens, fee or token
        decimals differ from the registry's."""
        codes = self.hook.provider.make_batch_request([("eth_getCode", [p.address, hex(block)]) for p in self.pools])
        for pool, code in zip(self.pools, codes, strict=True):
            if code.get("result") in (None, "0x"):
                raise NotAPoolError(f"{pool.chain} pool {pool.address}: no contract at that address; fix the registry")
        calls = [(p.address, f.encode()) for p in self.pools for f in (abi.TOKEN0, abi.TOKEN1, abi.FEE)]
        calls += [(t.address, abi.DECIMALS.encode()) for p in self.pools for t in (p.token0, p.token1)]
        answers = self.hook.call_many(calls, block)
        n = len(self.pools)
        for i, pool in enumerate(self.pools):
            facts = answers[3 * i : 3 * i + 3]
            decimals = answers[3 * n + 2 * i : 3 * n + 2 * i + 2]
            _check_pool(pool, facts, decimals)

    def _readings(self, taken: list[tuple[datetime, int]]) -> list[Reading]:
        """Every pool's state and TWAP at each block, all of a block's calls together (one past state
        loaded per block); only `observe` may revert (too few observations for the TWAP)."""
        observe = abi.OBSERVE.encode([self.twap_seconds, 0])
        calls = [
            (p.address, data, b)
            for _, b in taken
            for p in self.pools
            for data in (abi.SLOT0.encode(), abi.LIQUIDITY.encode(), observe)
        ]
        answers = iter(self.hook.call_at_blocks(calls, reverts=True))
        out = []
        for moment, block in taken:
            for pool in self.pools:
                slot0, liquidity, cumulatives = next(answers), next(answers), next(answers)
                if slot0 is None or liquidity is None:
                    raise NotAPoolError(
                        f"{pool.chain} pool {pool.address}: slot0() or liquidity() reverted at block {block}; "
                        "a Uniswap v3 pool answers both"
                    )
                if not slot0:  # no code at that block yet: the pool was created later, nothing to read
                    continue
                sqrt_price, tick = abi.SLOT0.decode(slot0)[:2]
                twap = None if cumulatives is None else abi.OBSERVE.decode(cumulatives)[0]
                out.append(
                    self._reading(pool, moment, block, sqrt_price, tick, abi.LIQUIDITY.decode(liquidity)[0], twap)
                )
        return out

    def _reading(
        self, pool: Pool, moment: datetime, block: int, sqrt_price: int, tick: int, liquidity: int, twap: Any
    ) -> Reading:
        def quote(token: Any, zero_for_one: bool) -> int | None:
            if token.symbol not in self.quote_symbols:
                return None
            amount = self.quote_tokens * 10**token.decimals
            return pricing.sell_quote(amount, sqrt_price, liquidity, pool.fee, zero_for_one)

        return Reading(
            pool.address, moment, block, sqrt_price, tick, liquidity,
            pricing.price(sqrt_price, pool.decimals0, pool.decimals1),
            None if twap is None else pricing.twap_tick(tuple(twap), self.twap_seconds),
            quote(pool.token0, True), quote(pool.token1, False),
        )  # fmt: skip

    def _swaps(self, first: int, last: int) -> list[Swap]:
        logs = swap_logs(self.hook, [p.address for p in self.pools], first, last)
        stamps = self.hook.block_timestamps(sorted({int(log["blockNumber"], 16) for log in logs})) if logs else {}
        return [self._swap(log, stamps) for log in logs]

    def _swap(self, log: dict[str, Any], stamps: dict[int, int]) -> Swap:
        pool = self.by_address[log["address"].lower()]
        amount0, amount1, sqrt_price, liquidity, tick = abi.decode_swap(log["data"])
        block = int(log["blockNumber"], 16)
        return Swap(
            pool.address, block, int(log["logIndex"], 16), log["transactionHash"],
            datetime.fromtimestamp(stamps[block], UTC), amount0, amount1, sqrt_price, liquidity, tick,
            pricing.price(sqrt_price, pool.decimals0, pool.decimals1),
        )  # fmt: skip


def _hour_marks(start: datetime, end: datetime) -> list[datetime]:
    """Each whole UTC hour in [start, end), the window's start first even if it is not whole."""
    marks, mark = [start], start.replace(minute=0, second=0, microsecond=0) + HOUR
    while mark < end:
        marks.append(mark)
        mark += HOUR
    return marks


def _check_pool(pool: Pool, facts: list[bytes | None], decimals: list[bytes | None]) -> None:
    if any(f is None for f in facts):
        raise NotAPoolError(f"{pool.chain} pool {pool.address}: does not answer token0/token1/fee as a Uniswap v3 pool")
    token0, token1 = (to_checksum_address(f.decode(a)[0]) for f, a in ((abi.TOKEN0, facts[0]), (abi.TOKEN1, facts[1])))
    (fee,) = abi.FEE.decode(facts[2])
    for field, got, want in (("token0", token0, pool.token0.address), ("token1", token1, pool.token1.address)):
        if got != want:
            raise PoolMismatchError(
                f"{pool.chain} pool {pool.address}: {field} is {got} on chain, the registry says {want}"
            )
    if fee != pool.fee:
        raise PoolMismatchError(
            f"{pool.chain} pool {pool.address}: fee is {fee} on chain, the registry says {pool.fee}"
        )
    for token, answer in zip((pool.token0, pool.token1), decimals, strict=True):
        got = None if answer is None else abi.DECIMALS.decode(answer)[0]
        if got != token.decimals:
            raise PoolMismatchError(
                f"{pool.chain} pool {pool.address}: token {token.symbol} ({token.address}) has {got} decimals on chain, "
                f"the registry says {token.decimals}"
            )
