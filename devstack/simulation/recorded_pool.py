"""Real recorded state of mainnet's Uniswap v3 USDC/USDT 0.01 % pool (../shared/data/dex-recorded/:
its tick and in-range liquidity at every UTC hour of 2022), replayed onto the local pool.

The data is read where it lies, never copied into the repository. Each hour's state is put onto
the pool at its mainnet address by one PoolDriver transaction (devstack.chain.uniswap) in a block
carrying the hour's timestamp. Block timestamps only increase, so the hours go through the same
time-ordered schedule as the recorded Chainlink rounds (devstack.chain.replay.replay_many).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime

from chainlink_feeds.registry import Feed
from devstack.chain.replay import replay_many
from devstack.chain.rpc import Rpc
from devstack.chain.uniswap import create_pool, deploy_uniswap, drive_call
from devstack.chain.uniswap.mainnet import POOLS, TOKENS
from devstack.settings import PROJECT_DIR
from devstack.simulation import history, recorded

RECORDED_FILE = PROJECT_DIR.parent / "shared" / "data" / "dex-recorded" / "uniswap_v3_usdc_usdt_001_hourly_2022.csv"
COLUMNS = ["hour_utc", "timestamp", "block", "tick", "liquidity"]
POOL = POOLS["USDC/USDT 0.01%"]


class RecordedPoolError(ValueError):
    """The recorded pool file is missing or holds a row that cannot be replayed."""


@dataclass(frozen=True)
class PoolHour:
    """The pool as mainnet showed it at one UTC hour: `block` is the mainnet block that was read."""

    hour: datetime
    block: int
    tick: int
    liquidity: int

    @property
    def timestamp(self) -> int:
        return int(self.hour.timestamp())


def hours(start: datetime | None = None, end: datetime | None = None) -> list[PoolHour]:
    """The recorded hours with start <= hour < end (all of 2022 by default), in time order."""
    if not RECORDED_FILE.exists():
        raise RecordedPoolError(f"{RECORDED_FILE} is missing: the recorded pool lives in ../shared/data/dex-recorded")
    with RECORDED_FILE.open() as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise RecordedPoolError(f"{RECORDED_FILE.name}: columns {reader.fieldnames}, expected {COLUMNS}")
        rows = [_row(raw, line) for line, raw in enumerate(reader, start=2)]
    if any(a.hour >= b.hour for a, b in zip(rows, rows[1:], strict=False)):
        raise RecordedPoolError(f"{RECORDED_FILE.name}: hours are not in increasing order")
    return [r for r in rows if (start is None or r.hour >= start) and (end is None or r.hour < end)]


def _row(raw: dict[str, str], line: int) -> PoolHour:
    where = f"{RECORDED_FILE.name} line {line}"
    try:
        hour = datetime.strptime(raw["hour_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        row = PoolHour(hour, int(raw["block"]), int(raw["tick"]), int(raw["liquidity"]))
        timestamp = int(raw["timestamp"])
    except (TypeError, ValueError) as exc:
        raise RecordedPoolError(f"{where}: {exc}") from exc
    if timestamp != row.timestamp:
        raise RecordedPoolError(f"{where}: timestamp {timestamp} is not hour_utc {raw['hour_utc']}")
    if row.liquidity < 0:
        raise RecordedPoolError(f"{where}: negative liquidity {row.liquidity}")
    return row


def replay(
    rpc: Rpc,
    plans: dict[Feed, list[history.SimPhase]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[PoolHour, int]:
    """Replay the recorded Chainlink `plans` and the pool's hours in [start, end) onto a fresh node;
    the block each hour landed in.

    Uniswap is deployed first (before the feeds' DEPLOYED_AT) and the pool created at price 1;
    every hour gets a block at its timestamp, with a driver transaction when the tick or
    liquidity differ from the hour before.
    """
    chosen = hours(start, end)
    if not chosen:
        raise RecordedPoolError(f"{RECORDED_FILE.name} holds no hour in [{start}, {end})")
    deploy_uniswap(rpc)
    pool = create_pool(rpc, TOKENS[POOL.token_a].address, TOKENS[POOL.token_b].address, POOL.fee, 1)
    calls: dict[int, list[tuple[str, str]]] = {}
    previous = None
    for row in chosen:
        changed = previous is None or (row.tick, row.liquidity) != (previous.tick, previous.liquidity)
        calls[row.timestamp] = [drive_call(pool, row.tick, row.liquidity)] if changed else []
        previous = row
    blocks = replay_many(rpc, plans, deployed_at=recorded.DEPLOYED_AT, transactions=calls)
    return {row: blocks[row.timestamp] for row in chosen}
