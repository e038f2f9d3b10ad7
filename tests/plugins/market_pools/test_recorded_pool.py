"""Recorded mainnet data as the test case: every hour of May 2022 of the USDC/USDT 0.01 % pool (with
the USDT wobble of 2022-05-12; ../shared/data/dex-recorded) replayed onto its mainnet address; what
the reader reads for each UTC day equals an expectation computed here from the CSV rows alone."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chainlink_feeds.registry import load_market
from devstack.simulation import recorded_pool
from market_pools import pricing
from market_pools.reader import PoolReader
from tests.plugins.market_pools.conftest import hook_on
from tests.support.scratch_chain import free_port, scratch_chain

FIRST, END = datetime(2022, 5, 1, tzinfo=UTC), datetime(2022, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def csv_rows() -> dict[datetime, tuple[int, int]]:
    """hour -> (tick, liquidity), straight from the file."""
    with recorded_pool.RECORDED_FILE.open() as f:
        return {
            datetime.fromtimestamp(int(row["timestamp"]), UTC): (int(row["tick"]), int(row["liquidity"]))
            for row in csv.DictReader(f)
        }


@pytest.fixture(scope="module")
def days():
    """Each day's window as the reader reads it, from a node holding the pool's recorded hours."""
    monkeypatch = pytest.MonkeyPatch()
    with scratch_chain(port=free_port()) as rpc:
        recorded_pool.replay(rpc, {}, start=FIRST - timedelta(hours=1), end=END)
        pool = load_market().pool("ethereum", recorded_pool.POOL.address)
        reader = PoolReader(hook_on(rpc, monkeypatch), [pool], quote_symbols=frozenset({"USDC", "USDT"}))
        yield [reader.read(FIRST + DAY * i, FIRST + DAY * (i + 1)) for i in range((END - FIRST).days)]
    monkeypatch.undo()


def test_every_hour_reads_the_recorded_tick_and_liquidity(days) -> None:
    recorded = csv_rows()
    for window in days:
        hourly = window.readings
        assert [r.read_at for r in hourly] == [window.start + timedelta(hours=h) for h in range(24)]
        assert [(r.tick, r.liquidity) for r in hourly] == [recorded[r.read_at] for r in hourly]


def test_every_price_lies_in_its_recorded_tick(days) -> None:
    """1 USDC in USDT: at least 1.0001**tick and below 1.0001**(tick + 1) (equal decimals)."""
    for reading in (r for w in days for r in w.readings):
        assert pricing.tick_price(reading.tick, 6, 6) <= reading.price < pricing.tick_price(reading.tick + 1, 6, 6)


def test_the_wobble_hours_have_no_liquidity_and_no_quote(days) -> None:
    """2022-05-12: five hours with nothing in range (no trade of any size clears: no quote), and the
    hour at tick 117 prices 1 USDC at 1.0118 USDT with about a millionth of a calm hour's depth."""
    wobble = next(w for w in days if w.start.date() == datetime(2022, 5, 12).date())
    empty = [r for r in wobble.readings if r.liquidity == 0]
    assert len(empty) == 5 and all(r.sell0_out is None and r.sell1_out is None for r in empty)
    eleven = next(r for r in wobble.readings if r.read_at.hour == 11)
    assert eleven.tick == 117 and eleven.price.quantize(Decimal("0.0001")) == Decimal("1.0118")
    million = 10**6 * 10**6
    thin = pricing.slippage_bps(million, eleven.sell0_out, eleven.sqrt_price_x96, True)
    calm = days[0].readings[0]
    deep = pricing.slippage_bps(million, calm.sell0_out, calm.sqrt_price_x96, True)
    assert thin > 4000 and deep < 2, (thin, deep)  # selling $1M: half lost in the wobble, ~1 bp (the fee) calm


def test_swaps_are_the_price_path_between_readings(days) -> None:
    """Each tick change of the recording is a Swap in the day it happened, at the new tick."""
    recorded = csv_rows()
    for window in days:
        hours = [window.start + timedelta(hours=h) for h in range(24)]
        changes = [h for h in hours if recorded[h][0] != recorded[h - timedelta(hours=1)][0]]
        assert [s.swapped_at for s in window.swaps] == changes
        assert all(recorded[s.swapped_at][0] == s.tick for s in window.swaps)


def test_a_node_without_history_fails_naming_the_archive_node_and_stores_nothing(snowflake_schema, monkeypatch) -> None:
    """The same recording on a node that keeps only the latest state (a full, non-archive node)."""
    from chainlink_feeds.errors import HistoricalStateUnavailableError
    from market_pools.operators import MarketPoolOperator
    from tests.support.pipeline import query

    day = datetime(2022, 5, 11, tzinfo=UTC)
    with scratch_chain(port=free_port(), prune_history=True) as rpc:
        recorded_pool.replay(rpc, {}, start=day - timedelta(hours=1), end=day + 2 * DAY)
        hook_on(rpc, monkeypatch)
        market = MarketPoolOperator(
            task_id="market_ethereum", window_start=day.isoformat(), window_end=(day + DAY).isoformat(),
            chainlink_conn_id="chainlink_scratch", raw_schema=snowflake_schema,
            pool_addresses=[recorded_pool.POOL.address],
        )  # fmt: skip
        with pytest.raises(HistoricalStateUnavailableError, match=r"past blocks .* need an archive node"):
            market.execute({"run_id": "pruned"})
    assert query(f"select * from {snowflake_schema}.MARKET_POOL_READINGS").empty
    assert query(f"select * from {snowflake_schema}.MARKET_LOAD_WINDOWS").empty
