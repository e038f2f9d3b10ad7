"""Recorded mainnet days through the operators and dbt: the daily rows, the hourly grid, the depeg
event of USDT on 2022-05-12 and the heartbeat misses equal the served expectation computed from the
CSV rows, and no round the proxy never served reaches a mart. The recorded USDC/USDT pool's hours
of those days ride along: each feed's market price in USD, through the other feed's served price,
equals what the two recordings say."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from chainlink_feeds import operators
from chainlink_feeds.operators import ChainlinkFeedOperator
from chainlink_feeds.registry import load_registry
from devstack.simulation import recorded, recorded_pool
from market_pools.operators import MarketPoolOperator
from tests.support.pipeline import create_schema, dbt_build, drop_pipeline, query
from tests.support.recorded import expected, window
from tests.support.scratch_chain import free_port, scratch_chain

DAY = timedelta(days=1)
SWITCH_AT = {
    "USDC/USD": int(datetime(2021, 6, 15, 13, 37, 11, tzinfo=UTC).timestamp()),
    "USDT/USD": int(datetime(2021, 9, 2, 7, 45, 30, tzinfo=UTC).timestamp()),
}


def days(first: str, count: int) -> list[datetime]:
    start = datetime.fromisoformat(first).replace(tzinfo=UTC)
    return [start + DAY * i for i in range(count)]


SAMPLE = {
    # the overlap (phase 2 reports unserved; 04-18 is critical if both phases are mixed), the switch,
    # and phase 1's timed-out rounds after the switch
    # phase 1's timed-out rounds after the switch; and the days of USDT's depeg, where it prices USDT
    "USDC/USD": days("2021-04-17", 3) + days("2021-06-14", 3) + days("2021-11-16", 2) + days("2022-05-11", 3),
    # the switch, and the depeg of 2022-05-12 (0.95181623 at 07:22:33 UTC)
    "USDT/USD": days("2021-09-01", 3) + days("2022-05-11", 3),
}
POOL_DAYS = days("2022-05-11", 3)  # the USDC/USDT pool's recorded hours, loaded by MarketPoolOperator
CONN_ID = "chainlink_recorded_marts"
# the registry's sample feeds, read once, and their thresholds (dbt reads them from CHAINLINK_FEEDS)
FEEDS = {f.pair: f for f in load_registry() if f.chain == "ethereum" and f.pair in SAMPLE}  # recorded on Ethereum
((WARNING_BPS, CRITICAL_BPS),) = {(f.warning_bps, f.critical_bps) for f in FEEDS.values()}
GRACE = 900


@pytest.fixture(scope="module")
def built(stack, feed_by_pair, tmp_path_factory):
    """The sample days loaded by ChainlinkFeedOperator and the pool days by MarketPoolOperator, from
    a node holding the recorded rounds and pool hours, then dbt build."""
    raw = f"REC_{uuid.uuid4().hex[:8].upper()}"
    env_key = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    with scratch_chain(port=free_port()) as rpc:
        plans = {feed_by_pair[pair]: recorded.plan(pair, at) for pair, at in SWITCH_AT.items()}
        recorded_pool.replay(rpc, plans, start=POOL_DAYS[0] - timedelta(hours=1), end=POOL_DAYS[-1] + DAY)
        os.environ[env_key] = json.dumps({"conn_type": "chainlink", "host": rpc.url})
        cache, operators.PHASE_CACHE = operators.PHASE_CACHE, tmp_path_factory.mktemp("cache") / "phases.json"
        create_schema(raw)
        try:
            summaries = {
                (pair, day): ChainlinkFeedOperator(
                    task_id="load",
                    feed_pair=pair,
                    chainlink_conn_id=CONN_ID,
                    raw_schema=raw,
                    window_start=day.isoformat(),
                    window_end=(day + DAY).isoformat(),
                ).execute({"run_id": "recorded"})  # fmt: skip
                for pair, sample in SAMPLE.items()
                for day in sample
            }
            for day in POOL_DAYS:
                MarketPoolOperator(
                    task_id="market", chainlink_conn_id=CONN_ID, raw_schema=raw,
                    pool_addresses=[recorded_pool.POOL.address],
                    window_start=day.isoformat(), window_end=(day + DAY).isoformat(),
                ).execute({"run_id": "recorded"})  # fmt: skip
            result = dbt_build(raw, f"{raw}_A", tmp_path_factory.mktemp("dbt"))
            assert result.returncode == 0, result.stdout[-4000:]
            yield raw, f"{raw}_A_MARTS", summaries, result.stdout
        finally:
            operators.PHASE_CACHE = cache
            os.environ.pop(env_key, None)
            drop_pipeline(raw)


def price(r) -> Decimal:
    return Decimal(r.answer).scaleb(-8)


def status(prices: list[Decimal]) -> str:
    worst = max(abs(p - 1) * 10_000 for p in prices)
    return "critical" if worst >= CRITICAL_BPS else "warning" if worst >= WARNING_BPS else "healthy"


def test_dbt_tests_pass_including_no_unserved_round(built) -> None:
    *_, log = built
    assert "ERROR=0" in log and "WARN=0" in log and "assert_no_unserved_round_in_marts" in log


def test_daily_rows_equal_the_served_expectation(built) -> None:
    _, marts, *_ = built
    daily = query(
        f"select feed_pair, day, open_price_usd, close_price_usd, low_price_usd, high_price_usd, rounds, day_status "
        f"from {marts}.STABLECOIN_PEG_DAILY"
    ).set_index(["feed_pair", "day"])
    assert len(daily) == sum(len(v) for v in SAMPLE.values())
    for pair, sample in SAMPLE.items():
        exp = expected(pair, SWITCH_AT[pair])
        for day in sample:
            inside, carry = window(exp, day, day + DAY)
            in_effect = ([carry] if carry else []) + inside
            prices = [price(r) for r, _ in in_effect]
            row = daily.loc[(pair, day.date())]
            got = (row.open_price_usd, row.close_price_usd, row.low_price_usd, row.high_price_usd, row.rounds)
            assert tuple(Decimal(str(v)) for v in got[:4]) + (got[4],) == (
                prices[0], prices[-1], min(prices), max(prices), len(inside)
            ), (pair, day)  # fmt: skip
            assert row.day_status == status(prices), (pair, day)


def test_mixing_both_phases_would_have_made_2021_04_18_critical(built) -> None:
    """The old rule (every round of every phase) mixes two aggregators; served, the day is healthy."""
    _, marts, *_ = built
    day = datetime(2021, 4, 18, tzinfo=UTC)
    lo, hi = int(day.timestamp()), int((day + DAY).timestamp())
    mixed = [price(r) for r in recorded.rounds("USDC/USD") if lo <= r.updated_at < hi]
    assert status(mixed) == "critical"
    shown = query(
        f"select day_status from {marts}.STABLECOIN_PEG_DAILY where feed_pair = 'USDC/USD' and day = '2021-04-18'"
    )
    assert list(shown.day_status) == ["healthy"]


def test_hourly_grid_carries_the_served_price(built) -> None:
    _, marts, *_ = built
    grid = query(f"select feed_pair, hour_at, price_usd from {marts}.STABLECOIN_PEG_ZSCORE")
    assert len(grid) == 24 * sum(len(v) for v in SAMPLE.values())
    for pair in SAMPLE:
        exp = expected(pair, SWITCH_AT[pair])
        for row in grid[grid.feed_pair == pair].itertuples():
            hour_end = int(row.hour_at.replace(tzinfo=UTC).timestamp()) + 3600
            served = [r for r, f in exp.served if f < hour_end]
            assert abs(float(row.price_usd) - float(price(served[-1]))) < 1e-9, (pair, row.hour_at)


def test_the_usdt_depeg_event(built) -> None:
    _, marts, *_ = built
    events = query(
        f"select started_at, ended_at, worst_price_usd, worst_status from {marts}.STABLECOIN_DEPEG_EVENTS "
        f"where feed_pair = 'USDT/USD' order by worst_price_usd"
    )
    worst = events.iloc[0]
    assert Decimal(str(worst.worst_price_usd)) == Decimal("0.95181623") and worst.worst_status == "critical"
    served = expected("USDT/USD", SWITCH_AT["USDT/USD"]).served
    bottom = next(i for i, (r, _) in enumerate(served) if r.answer == 95181623)
    first = bottom
    while abs(price(served[first - 1][0]) - 1) * 10_000 >= WARNING_BPS:
        first -= 1
    back = next(i for i in range(bottom, len(served)) if abs(price(served[i][0]) - 1) * 10_000 < WARNING_BPS)
    assert worst.started_at == datetime.fromtimestamp(served[first][1], UTC).replace(tzinfo=None)
    assert worst.ended_at == datetime.fromtimestamp(served[back][1], UTC).replace(tzinfo=None)
    assert datetime.fromtimestamp(served[bottom][1], UTC) == datetime(2022, 5, 12, 7, 22, 33, tzinfo=UTC)


def test_heartbeat_misses_are_only_the_real_gaps(built) -> None:
    raw, marts, summaries, _ = built
    stale = query(f"select feed_pair, heartbeat_misses from {marts}.CHAINLINK_FEED_STALENESS")
    got = dict(zip(stale.feed_pair, stale.heartbeat_misses, strict=True))
    late_heartbeats = 0
    for pair, sample in SAMPLE.items():
        served = expected(pair, SWITCH_AT[pair]).served
        misses = strict = 0
        for (prev, _), (_, served_from) in zip(served, served[1:], strict=False):
            day = datetime.fromtimestamp(served_from, UTC).replace(hour=0, minute=0, second=0)
            if day in sample:
                misses += served_from - prev.updated_at > 86400 + GRACE
                strict += served_from - prev.updated_at > 86400
        assert got[pair] == misses, pair
        assert sum(s["stale_gaps"] for (p, _), s in summaries.items() if p == pair) == misses
        late_heartbeats += strict - misses
    assert late_heartbeats > 0  # heartbeats a little late, which the old strict rule called misses
    stored = query(f"select feed_pair, round_id from {raw}.CHAINLINK_ROUNDS")
    never = {(pair, r.round_id) for pair in SAMPLE for r in expected(pair, SWITCH_AT[pair]).never_served}
    assert never.isdisjoint(zip(stored.feed_pair, stored.round_id.map(int), strict=True))
    rejected = query(f"select feed_pair, round_id, reason from {raw}.CHAINLINK_ROUND_REJECTIONS")
    in_sample = set()
    for pair, sample in SAMPLE.items():
        exp = expected(pair, SWITCH_AT[pair])
        for r in exp.never_served + exp.timed_out:
            if datetime.fromtimestamp(r.updated_at, UTC).replace(hour=0, minute=0, second=0) in sample:
                in_sample.add((pair, r.round_id))
    assert set(zip(rejected.feed_pair, rejected.round_id.map(int), strict=True)) == in_sample != set()
    assert pd.Series(rejected.reason).str.startswith(("never served", "timed out")).all()


def served_price(pair: str, at: datetime, frozen: tuple[datetime, datetime] | None = None) -> tuple[int, Decimal]:
    """The round the proxy served at `at` (the last served_from at or before it), from the CSV; with
    `frozen` = (from, until), as if the oracle had published nothing in between."""
    served = expected(pair, SWITCH_AT[pair]).served
    cut = (frozen[0].timestamp(), frozen[1].timestamp()) if frozen else (0, 0)
    round_, _ = [(r, f) for r, f in served if f <= at.timestamp() and not cut[0] <= f < cut[1]][-1]
    return round_.round_id, price(round_)


def test_each_feeds_market_price_is_the_pool_through_the_other_feed(built) -> None:
    """Every hour of the pool days, both ways. The recording gives each hour's tick, so the price in
    the other token lies in that tick (equal decimals): USDC in USDT in [1.0001^t, 1.0001^(t+1)),
    USDT in USDC the inverse; in USD it is that times the other feed's round served at that hour,
    the served rounds from the feeds' CSV rows."""
    raw, *_ = built
    got = query(
        f"select feed_pair, read_at, reference_pair, reference_round_id, reference_price_usd, price_in_paired, "
        f"market_price_usd, in_range_liquidity from {raw}_A_STAGING.INT_MARKET__SOURCE_PRICES "
        f"where pool_address = '{recorded_pool.POOL.address}' order by feed_pair, read_at"
    )
    hours = {h.hour: h for h in recorded_pool.hours(POOL_DAYS[0], POOL_DAYS[-1] + DAY)}
    assert len(got) == 2 * len(hours) == 2 * 72
    slack = Decimal("1e-15")  # the 18 places of the stored price
    for row in got.itertuples():
        at = row.read_at.to_pydatetime().replace(tzinfo=UTC)
        tick, liquidity = hours[at].tick, hours[at].liquidity
        low, high = tick_band(row.feed_pair, tick)
        reference = OTHER[row.feed_pair]
        round_id, reference_price = served_price(reference, at)
        assert (row.reference_pair, int(row.reference_round_id)) == (reference, round_id), (row.feed_pair, at)
        assert Decimal(str(row.reference_price_usd)) == reference_price, (row.feed_pair, at)
        in_paired, usd = Decimal(str(row.price_in_paired)), Decimal(str(row.market_price_usd))
        assert low * (1 - slack) <= in_paired <= high * (1 + slack), (row.feed_pair, at, low, in_paired, high)
        assert abs(usd / (in_paired * reference_price) - 1) < slack, (row.feed_pair, at)
        # the liquidity, a double of the uint128
        assert abs(row.in_range_liquidity - liquidity) <= liquidity * 1e-15, (row.feed_pair, at)


def test_the_wobble_shows_in_usdts_market_price_while_the_oracle_is_one_witness(built) -> None:
    """2022-05-12 11:00, the pool at tick 117 with a millionth of its depth: USDT about 0.988 USDC, and
    (USDC/USD served 1.006 then) about $0.994; no sized quote in the hours with nothing in range. (The
    recording has only the in-range liquidity, so a quote here never crosses a tick: on mainnet,
    liquidity beyond the tick would soften the larger losses.)"""
    raw, *_ = built
    rows = query(
        f"select read_at, market_price_usd, in_range_liquidity, quote_price_in_paired, quote_slippage_bps "
        f"from {raw}_A_STAGING.INT_MARKET__SOURCE_PRICES where feed_pair = 'USDT/USD' "
        f"and read_at >= '2022-05-12' and read_at < '2022-05-13' order by read_at"
    )
    eleven = rows[rows.read_at == datetime(2022, 5, 12, 11)].iloc[0]
    _, usdc = served_price("USDC/USD", datetime(2022, 5, 12, 11, tzinfo=UTC))
    in_usd = Decimal(str(eleven.market_price_usd))
    assert usdc / Decimal("1.0001") ** 118 <= in_usd <= usdc / Decimal("1.0001") ** 117 and in_usd < Decimal("0.995")
    empty = rows[rows.in_range_liquidity == 0]
    assert len(empty) == 5 and empty.quote_price_in_paired.isna().all()
    # selling $1M of USDT into what is in range: 16 bps at midnight, over half lost at 11:00, and
    # the thinner the pool the worse, hour by hour
    assert rows.quote_slippage_bps.iloc[0] < 20 and eleven.quote_slippage_bps > 5000
    by_depth = rows[rows.in_range_liquidity > 0].groupby("in_range_liquidity").quote_slippage_bps.mean()
    assert by_depth.is_monotonic_decreasing and len(by_depth) >= 6, by_depth


FEE = Decimal(100) / 1_000_000  # the pool's 0.01 %
QUOTE = 1_000_000  # whole tokens in the sized quote (MarketPoolOperator's default)


def quote_loss_bps(liquidity: int, tick: int, sell: str) -> float:
    """Selling QUOTE of `sell` into the in-range liquidity at the tick's lower price (Uniswap v3's
    swap within one range, after the fee), as a loss against the spot price, in bps."""
    sqrt_p, amount = 1.0001 ** (tick / 2), QUOTE * 10**6 * float(1 - FEE)
    if sell == "USDT":  # token1 in: sqrt(P) rises by amount / L, token0 out
        out = liquidity * (1 / sqrt_p - 1 / (sqrt_p + amount / liquidity))
        spot = 1 / sqrt_p**2
    else:  # token0 in: 1/sqrt(P) rises by amount / L, token1 out
        out = liquidity * (sqrt_p - 1 / (1 / sqrt_p + amount / liquidity))
        spot = sqrt_p**2
    return (1 - out / (QUOTE * 10**6) / spot) * 10_000


OTHER = {"USDC/USD": "USDT/USD", "USDT/USD": "USDC/USD"}  # the pool's other token's feed: the reference


def tick_band(pair: str, tick: int) -> tuple[Decimal, Decimal]:
    """`pair`'s token priced in the pool's other token over the tick (equal decimals): USDC in USDT
    in [1.0001^t, 1.0001^(t+1)), USDT in USDC the inverse."""
    low, high = Decimal("1.0001") ** tick, Decimal("1.0001") ** (tick + 1)
    return (1 / high, 1 / low) if pair == "USDT/USD" else (low, high)


def hour_quote_loss(pair: str, hour) -> float | None:
    """What selling $1M of the token loses in the hour's pool, in bps; None with nothing in range."""
    return quote_loss_bps(hour.liquidity, hour.tick, pair.split("/")[0]) if hour.liquidity else None


def is_thin(pair: str, hour, loss: float | None = None) -> bool:
    """Nothing in range, or selling $1M of the token loses more than the registry's floor (`loss`:
    hour_quote_loss, if the caller has it already)."""
    loss = hour_quote_loss(pair, hour) if loss is None else loss
    return loss is None or loss > FEEDS[pair].thin_quote_slippage_bps


def band_usd(pair: str, hour, frozen: tuple[datetime, datetime] | None = None) -> tuple[Decimal, Decimal, Decimal]:
    """The hour's market price of `pair` in USD, as the ends of its tick's band times the other feed's
    round served then (`frozen` cuts that feed's rounds, as `served_price` does), and that round's price."""
    _, reference = served_price(OTHER[pair], hour.hour, frozen)
    low, high = tick_band(pair, hour.tick)
    return low * reference, high * reference, reference


def expected_verdicts(pair: str, frozen: tuple[datetime, datetime] | None = None) -> dict[datetime, dict]:
    """Each pool hour's verdict for `pair`, from the two recordings alone: thin when nothing is in
    range or selling $1M loses over the registry's floor; else the market price is the tick's band
    times the other feed's served round, and the oracle diverges when its served round is off that
    by more than its deviation threshold plus the margin at both ends of the band; silent when
    divergent since an earlier hour with no round served since the divergence began."""
    feed = FEEDS[pair]
    limit = feed.deviation_threshold_pct * 100 + feed.divergence_margin_bps
    verdicts, since, served_then = {}, None, None
    for h in recorded_pool.hours(POOL_DAYS[0], POOL_DAYS[-1] + DAY):
        loss = hour_quote_loss(pair, h)
        thin = is_thin(pair, h, loss)
        round_id, oracle = served_price(pair, h.hour, frozen)
        verdict = {"thin": thin, "divergent": False, "silent": False, "round": round_id, "slippage": loss}
        if not thin:
            ends = [abs(oracle / market - 1) * 10_000 for market in band_usd(pair, h)[:2]]
            assert (min(ends) > limit) == (max(ends) > limit), (pair, h.hour, ends)  # the band decides
            verdict["divergent"] = min(ends) > limit
            if not verdict["divergent"]:
                since = None
            elif since is None:
                since, served_then = h.hour, round_id
            verdict["silent"] = (
                verdict["divergent"]
                and round_id == served_then
                and (h.hour - since).total_seconds() >= 60 * feed.silent_oracle_minutes
            )
        verdicts[h.hour] = verdict
    return verdicts


@pytest.mark.parametrize("pair", ["USDC/USD", "USDT/USD"])
def test_market_vs_oracle_verdicts_equal_the_recordings(built, pair) -> None:
    """Each pool hour of 2022-05-11..13 (one pool: its median is its price): the thin hours, the
    divergent hours and the silent-oracle hours equal what the two recordings say."""
    _, marts, *_ = built
    assert_verdicts(marts, pair, expected_verdicts(pair))


def assert_verdicts(marts: str, pair: str, expect: dict[datetime, dict]) -> None:
    rows = query(
        f"select priced_at, is_thin_market, market_price_usd, oracle_round_id, is_divergent, is_silent_oracle, "
        f"pools_read, pools_used, best_quote_slippage_bps "
        f"from {marts}.STABLECOIN_MARKET_VS_ORACLE where feed_pair = '{pair}' order by priced_at"
    )
    assert len(rows) == len(expect) == 72
    for row in rows.itertuples():
        at = row.priced_at.to_pydatetime().replace(tzinfo=UTC)
        want = expect[at]
        assert (row.pools_read, row.pools_used) == (1, 0 if want["thin"] else 1), (pair, at)
        assert (bool(row.is_thin_market), pd.isna(row.market_price_usd)) == (want["thin"], want["thin"]), (pair, at)
        assert int(row.oracle_round_id) == want["round"], (pair, at)
        assert (bool(row.is_divergent), bool(row.is_silent_oracle)) == (want["divergent"], want["silent"]), (pair, at)
        if want["slippage"] is None:  # nothing in range: no quote
            assert pd.isna(row.best_quote_slippage_bps), (pair, at)
        elif not want["thin"]:  # within one range: the test's one-range swap, its spot a tick's width off
            assert abs(float(row.best_quote_slippage_bps) - want["slippage"]) < 2, (pair, at, want["slippage"])


def test_2022_05_12_twelve_thin_hours_and_four_divergent_ones(built) -> None:
    """What the verdicts come to on USDT's depeg day: the five hours with nothing in range and seven
    where selling $1M would lose 28-52 % are thin; from 07:00 to 10:00 the oracle (USDT/USD about
    0.976-0.988) and the market (the pool says USDT about USDC, USDC/USD served about 1.007-1.010)
    disagree by 170-335 bps while the oracle keeps publishing: divergent, not silent."""
    _, marts, *_ = built
    day = query(
        f"select hour(priced_at) as h, is_thin_market, is_divergent, is_silent_oracle, divergence_bps "
        f"from {marts}.STABLECOIN_MARKET_VS_ORACLE where feed_pair = 'USDT/USD' and to_date(priced_at) = '2022-05-12'"
    )
    assert sorted(day[day.is_thin_market].h) == [2, 3, 4, 5, 6, 11, 12, 13, 15, 18, 19, 22]
    assert sorted(day[day.is_divergent].h) == [7, 8, 9, 10] and day[day.is_divergent].divergence_bps.lt(-150).all()
    assert not day.is_silent_oracle.any()


# USDT/USD publishes nothing in these hours (a fault injected), then catches up.
FROZEN = (datetime(2022, 5, 12, 6, tzinfo=UTC), datetime(2022, 5, 12, 12, tzinfo=UTC))


def frozen_copy(built, pair: str, window: tuple[datetime, datetime], work: Path) -> Iterator[str]:
    """The same raw data without `pair`'s rounds published in `window`, as a frozen oracle leaves it
    (its last round served on), built by dbt into marts of their own."""
    from warehouse.tables import CHAINLINK_ROUNDS, RAW_TABLES

    raw, *_ = built
    copy = f"{raw}_FROZEN_{pair.split('/')[0]}"
    create_schema(copy)
    try:
        for table in RAW_TABLES:
            start, end = (f"'{at:%Y-%m-%d %H:%M:%S}'" for at in window)
            cut = f" where not (feed_pair = '{pair}' and served_from >= {start} and served_from < {end})"
            cut = cut if table is CHAINLINK_ROUNDS else ""
            query(f"create table {copy}.{table.name} as select * from {raw}.{table.name}{cut}")
        result = dbt_build(copy, f"{copy}_A", work)
        assert result.returncode == 0, result.stdout[-4000:]
        yield f"{copy}_A_MARTS"
    finally:
        drop_pipeline(copy)


@pytest.fixture(scope="module")
def frozen(built, tmp_path_factory):
    """USDT/USD frozen while FROZEN."""
    yield from frozen_copy(built, "USDT/USD", FROZEN, tmp_path_factory.mktemp("dbt_frozen"))


def test_a_frozen_oracle_is_silent_while_the_market_moves_away(frozen) -> None:
    """USDT/USD frozen from 06:00 to 12:00 on its 0.9933 round: from 07:00 the market (the pool says
    USDT is worth about USDC, USDC/USD served about 1.007-1.010) is over 50 bps away while the oracle
    publishes nothing, so from 08:00 (divergent 15 minutes or more) the oracle is silent, until the
    thin hours leave the market without a price; the verdicts equal the recordings' with the same
    rounds cut."""
    expect = expected_verdicts("USDT/USD", FROZEN)
    assert_verdicts(frozen, "USDT/USD", expect)
    silent = sorted(at for at, v in expect.items() if v["silent"])
    assert silent == [datetime(2022, 5, 12, hour, tzinfo=UTC) for hour in (8, 9, 10)]
    assert_verdicts(frozen, "USDC/USD", expected_verdicts("USDC/USD"))  # the other feed is unchanged


def test_the_2022_05_oracle_events_were_seen_by_the_oracle_alone(built) -> None:
    """On 2022-05-11..13 USDT/USD served down to 0.952 and USDC/USD up to 1.010, but the only market
    recorded is the pool between them, priced through the other's oracle: there USDT stood above the
    peg and USDC below it, the other side from each event. So each oracle event is seen by the oracle
    alone, not confirmed, as the CSV rows say hour by hour (the market off peg on the other side only)."""
    _, marts, *_ = built
    events = query(
        f"select feed_pair, started_at, worst_deviation_bps, seen_by, is_confirmed, market_crossed_at "
        f"from {marts}.STABLECOIN_DEPEG_EVENTS where started_at >= '2022-05-11' and started_at < '2022-05-14' "
        f"and seen_by != 'market'"
    )
    assert set(events.feed_pair) == {"USDC/USD", "USDT/USD"}
    for pair in ("USDC/USD", "USDT/USD"):
        sides = set()
        for h in recorded_pool.hours(POOL_DAYS[0], POOL_DAYS[-1] + DAY):
            if is_thin(pair, h):
                continue  # a thin market has no price
            ends = [(market - 1) * 10_000 for market in band_usd(pair, h)[:2]]
            sides |= {1 if min(ends) >= WARNING_BPS else -1 if max(ends) <= -WARNING_BPS else 0}
        mine = events[events.feed_pair == pair]
        event_sides = {1 if float(d) > 0 else -1 for d in mine.worst_deviation_bps}
        assert sides - {0} and not (sides & event_sides), (pair, sides, event_sides)
        assert set(mine.seen_by) == {"oracle"} and not mine.is_confirmed.any(), pair


def market_runs(
    pair: str, frozen: tuple[datetime, datetime] | None = None, frozen_pair: str = "USDT/USD"
) -> list[dict]:
    """The market's runs beyond the warning threshold for `pair` over the pool hours, from the two
    recordings alone: a thin hour has no price and neither starts nor ends a run; a priced hour is
    off peg on one side when both ends of its tick's band, times the other feed's served round, are
    beyond the threshold there; a run ends at the next priced hour not off on its side. Its witness
    hours are those in which the other feed's served round was within its own threshold (one pool:
    it is every pool). With `frozen`, `frozen_pair`'s rounds published then are cut."""
    runs, run = [], None
    for h in recorded_pool.hours(POOL_DAYS[0], POOL_DAYS[-1] + DAY):
        if is_thin(pair, h):
            continue
        low, high, reference = band_usd(pair, h, frozen if OTHER[pair] == frozen_pair else None)
        ends = [(market - 1) * 10_000 for market in (low, high)]
        sides = {1 if end >= WARNING_BPS else -1 if end <= -WARNING_BPS else 0 for end in ends}
        assert len(sides) == 1, (pair, h.hour, ends)  # the band decides
        side = sides.pop()
        if run is not None and side != run["side"]:
            runs.append(run | {"end": h.hour})
            run = None
        if side and run is None:
            run = {"start": h.hour, "end": None, "side": side, "witness_hours": 0}
        if run is not None:
            run["witness_hours"] += abs(reference - 1) * 10_000 < WARNING_BPS
    return runs + ([run] if run else [])


def as_utc(at: pd.Timestamp) -> datetime:
    return at.to_pydatetime().replace(tzinfo=UTC)


def assert_events_by_witness(
    marts: str, pair: str, frozen: tuple[datetime, datetime] | None = None, frozen_pair: str = "USDT/USD"
) -> list[dict]:
    """The feed's events the market alone saw equal its runs (market_runs) that overlap none of the
    oracle's events and have a witness hour; returns the runs."""
    events = query(
        f"select started_at, ended_at, is_open, worst_deviation_bps, seen_by, is_confirmed, rounds_off_peg, "
        f"oracle_crossed_at is null as no_oracle, market_crossed_at "
        f"from {marts}.STABLECOIN_DEPEG_EVENTS where feed_pair = '{pair}' order by started_at"
    )
    oracle = [
        (as_utc(e.started_at), None if e.is_open else as_utc(e.ended_at))
        for e in events.itertuples()
        if e.seen_by != "market"
    ]
    runs = market_runs(pair, frozen, frozen_pair)
    for run in runs:
        run["overlaps_oracle"] = any(
            (run["end"] is None or start < run["end"]) and (end is None or run["start"] < end) for start, end in oracle
        )
    expect = [(r["start"], r["end"], r["side"]) for r in runs if r["witness_hours"] and not r["overlaps_oracle"]]
    market = events[events.seen_by == "market"]
    got = [
        (as_utc(e.started_at), None if e.is_open else as_utc(e.ended_at), 1 if e.worst_deviation_bps > 0 else -1)
        for e in market.itertuples()
    ]
    assert got == expect, (pair, got, expect)
    assert (market.rounds_off_peg == 0).all() and market.no_oracle.all() and not market.is_confirmed.any()
    assert (market.market_crossed_at == market.started_at).all()
    return runs


def test_the_market_alone_saw_only_runs_of_its_own_on_recorded_days(built) -> None:
    """On 2022-05-11..13 the pool priced each coin through the other's oracle, and each oracle was off
    its peg for hours: each market's runs beyond the threshold overlap its own oracle's events (on the
    other side), so no event is the market's alone, as the recordings say (assert_events_by_witness)."""
    _, marts, *_ = built
    runs = {pair: assert_events_by_witness(marts, pair) for pair in ("USDC/USD", "USDT/USD")}
    # each feed's market was off peg then, on the other side from its oracle's event
    assert all(rs and all(r["overlaps_oracle"] for r in rs) for rs in runs.values()), runs


# USDC/USD publishes nothing in these hours: it serves its 1.0020 round of 2022-05-11 13:50 throughout.
USDC_FROZEN = (datetime(2022, 5, 12, 5, tzinfo=UTC), datetime(2022, 5, 12, 12, tzinfo=UTC))


@pytest.fixture(scope="module")
def usdc_frozen(built, tmp_path_factory):
    """USDC/USD frozen while USDC_FROZEN."""
    yield from frozen_copy(built, "USDC/USD", USDC_FROZEN, tmp_path_factory.mktemp("dbt_usdc_frozen"))


def test_a_market_run_through_a_depegged_reference_is_no_event(usdc_frozen) -> None:
    """With USDC/USD frozen on peg from 05:00 to 12:00 on 2022-05-12 its oracle has no event then, and
    its market, the pool through USDT/USD at 0.952-0.993, stood below the peg from 07:00: USDT's depeg,
    not USDC's. That run is no event; the events of both feeds are otherwise what the recordings
    give with the same rounds cut (assert_events_by_witness)."""
    runs = assert_events_by_witness(usdc_frozen, "USDC/USD", USDC_FROZEN, "USDC/USD")
    kept_out = [r for r in runs if not r["witness_hours"] and not r["overlaps_oracle"]]
    assert [(r["start"], r["side"]) for r in kept_out] == [(datetime(2022, 5, 12, 7, tzinfo=UTC), -1)], runs
    assert_events_by_witness(usdc_frozen, "USDT/USD", USDC_FROZEN, "USDC/USD")


def test_usdts_depeg_day_was_seen_by_the_oracle_and_the_market_stood_where_the_pool_says(built) -> None:
    """The daily summary of 2022-05-11..13: USDT's and USDC's oracle events make each feed's 05-12 an
    oracle day, not confirmed (the market stood on the other side); the market's worst deviation
    each day lies between the largest near end and the largest far end of its hours' tick bands
    through the other feed's served round (the recordings alone), thin hours left out."""
    _, marts, *_ = built
    daily = query(
        f"select feed_pair, day, depeg_events, seen_by, is_confirmed, market_readings, market_worst_abs_deviation_bps "
        f"from {marts}.STABLECOIN_PEG_DAILY where day >= '2022-05-11' and day < '2022-05-14'"
    )
    for pair in ("USDC/USD", "USDT/USD"):
        for day in POOL_DAYS:
            near = far = Decimal(0)
            priced = 0
            for h in recorded_pool.hours(day, day + DAY):
                if is_thin(pair, h):
                    continue
                ends = sorted(abs(market - 1) * 10_000 for market in band_usd(pair, h)[:2])
                near, far, priced = max(near, ends[0]), max(far, ends[1]), priced + 1
            row = daily[(daily.feed_pair == pair) & (daily.day == day.date())].iloc[0]
            assert int(row.market_readings) == priced, (pair, day)
            assert near <= Decimal(str(row.market_worst_abs_deviation_bps)) <= far, (pair, day, near, far)
        the_day = daily[(daily.feed_pair == pair) & (daily.day == POOL_DAYS[1].date())].iloc[0]
        assert the_day.seen_by == "oracle" and not the_day.is_confirmed and int(the_day.depeg_events) >= 1, pair


def market_transitions(raw: str, marts: str, record_until: datetime | None = None) -> tuple[list, dict]:
    """The alert task's market transitions over the built marts, and the first market row it read of
    each feed; with `record_until`, those up to then are recorded first (as a run would have) and
    removed again afterwards."""
    import snowflake.connector

    from devstack.services import emulator
    from peg_alerts.market_rules import MARKET_KINDS
    from peg_alerts.operators import PegAlertOperator
    from peg_alerts.store import AlertStore

    operator = PegAlertOperator(task_id="peg_alerts", raw_schema=raw, marts_schema=marts)
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        store = AlertStore(conn, raw)
        store.ensure_tables()
        if record_until is not None:
            earlier = [t for t in operator.find(store) if t.kind in MARKET_KINDS and t.occurred_at <= record_until]
            store.record([(t, "test") for t in earlier], "recorded")
        try:
            first_read = {m.feed.feed_pair: m.readings[0].priced_at for m in store.market_feeds(marts)}
            return [t for t in operator.find(store) if t.kind in MARKET_KINDS], first_read
        finally:
            conn.cursor().execute(f"delete from {store.table}")  # empty before: nothing else records here


def market_changes(raw: str, marts: str, pair: str, kind: str) -> list[tuple[datetime, str, str]]:
    """The alert task's market transitions of `pair` over the built marts, as (when, from, to)."""
    return [
        (t.occurred_at, t.from_status, t.to_status)
        for t in market_transitions(raw, marts)[0]
        if t.feed.feed_pair == pair and t.kind == kind
    ]


def test_a_run_after_recorded_transitions_finds_only_the_later_ones(built) -> None:
    """A run resumes from each feed's last recorded transition of each kind and reads only the
    market rows after the older of the two: what it finds equals the whole history's transitions
    after the recorded ones, of both kinds."""
    raw, marts, *_ = built
    everything, first_read = market_transitions(raw, marts)
    usdt = [t for t in everything if t.feed.feed_pair == "USDT/USD"]
    kinds = {"oracle_vs_market", "market_depth"}
    # just before the earlier of USDT's two kinds' last transitions: each kind on both sides of the cut
    cut = min(max(t.occurred_at for t in usdt if t.kind == kind) for kind in kinds) - timedelta(seconds=1)
    assert {t.kind for t in usdt if t.occurred_at <= cut} == kinds
    later, first_read_later = market_transitions(raw, marts, record_until=cut)
    assert later == [t for t in everything if t.occurred_at > cut]
    assert {t.kind for t in later if t.feed.feed_pair == "USDT/USD"} == kinds, later
    resumed = min(max(t.occurred_at for t in usdt if t.kind == k and t.occurred_at <= cut) for k in kinds)
    assert first_read["USDT/USD"] < resumed < first_read_later["USDT/USD"]  # the rows before were not read


def test_the_alerts_call_the_frozen_oracle_silent_and_the_live_one_divergent(built, frozen) -> None:
    """The alert task on the same marts: with USDT/USD frozen, one page that its oracle is silent at
    08:00 (the first silent hour); on the real rounds, where the oracle kept publishing, one that
    oracle and market disagree, at the same hour."""
    raw, marts, *_ = built
    silent = market_changes(frozen.removesuffix("_A_MARTS"), frozen, "USDT/USD", "oracle_vs_market")
    at_eight = datetime(2022, 5, 12, 8, tzinfo=UTC)
    assert silent[0] == (at_eight, "agree", "silent"), silent
    assert silent[1][1:] in {("silent", "agree"), ("silent", "divergent")} and silent[1][0] > at_eight
    live = market_changes(raw, marts, "USDT/USD", "oracle_vs_market")
    assert (at_eight, "agree", "divergent") in live and not [c for c in live if c[2] == "silent"], live


def test_the_alerts_report_each_thin_stretch_of_the_recorded_pool_once_each_way(built) -> None:
    """market_depth transitions over 2022-05-11..13 equal the thin hours the recordings give."""
    raw, marts, *_ = built
    expect, state = [], "deep"
    for at, verdict in sorted(expected_verdicts("USDT/USD").items()):
        now = "thin" if verdict["thin"] else "deep"
        if now != state:
            expect.append((at, state, now))
            state = now
    assert len(expect) >= 10  # the five empty hours and the seven costly ones come in stretches
    assert market_changes(raw, marts, "USDT/USD", "market_depth") == expect
