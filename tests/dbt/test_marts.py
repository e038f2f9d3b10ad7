"""The marts, built by dbt on the emulator from loaded simulated history, equal an independent pandas
recomputation (deviation, hourly grid, z-scores) and do not depend on the order days were loaded."""

from __future__ import annotations

import bisect
import uuid
from datetime import UTC, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import snowflake.connector

from devstack.services import emulator
from devstack.simulation import history
from tests.support.pipeline import dbt_build, drop_pipeline, load_days, query

DAY = timedelta(days=1)
TOLERANCE = 1e-9


# The scripted feeds and the euro coin (its peg, EUR/USD, loads beside it): what the marts' logic
# needs. Every registry feed over twelve days would be 180 loads one at a time, long enough under a
# busy suite to wait past the emulator's writer lock.
MART_PAIRS = ("USDC/USD", "USDT/USD", "DAI/USD", "EURC/USD")


@pytest.fixture(scope="module")
def marts_feeds(feeds) -> list:
    return [f for f in feeds if f.pair in MART_PAIRS]


@pytest.fixture(scope="module")
def built(stack, marts_feeds, tmp_path_factory):
    """Twelve days around the phase change, the depeg and the stale gap, loaded for every feed, then built."""
    midnight = stack.phase_change_at.replace(hour=0, minute=0)
    days = [midnight + DAY * i for i in range(-1, 8)] + [
        stack.stale_window[0].replace(hour=0) + DAY * i for i in range(3)
    ]
    raw = f"MARTS_{uuid.uuid4().hex[:8].upper()}"
    analytics = f"{raw}_A"
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"create schema {raw}")
    try:
        load_days(raw, marts_feeds, days)
        result = dbt_build(raw, analytics, tmp_path_factory.mktemp("dbt"))
        assert result.returncode == 0, result.stdout[-4000:]
        yield raw, f"{analytics}_MARTS", days, result.stdout
    finally:
        drop_pipeline(raw)


def test_every_model_and_test_passed(built) -> None:
    *_, log = built
    assert "ERROR=0" in log and "WARN=0" in log
    assert "assert_24_grid_hours_per_loaded_feed_day" in log and "assert_depeg_events_do_not_overlap" in log
    assert "assert_no_unserved_round_in_marts" in log


def raw_frames(raw: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rounds = query(
        f"select chain, proxy_address, feed_pair, round_id, answer, decimals, price, updated_at, served_from "
        f"from {raw}.CHAINLINK_ROUNDS"
    )
    feeds = query(
        f"select chain, proxy_address, feed_pair as pair, peg_usd, peg_reference_pair, decimals, warning_bps, "
        f"critical_bps from {raw}.CHAINLINK_FEEDS"
    )
    windows = query(f"select chain, proxy_address, window_start, window_end from {raw}.CHAINLINK_LOAD_WINDOWS")
    return rounds, feeds, windows


def pegs_at_rounds(expected: pd.DataFrame, rounds: pd.DataFrame) -> pd.Series:
    """Each round's peg in USD: peg_usd, or with a peg reference peg_usd times the reference's price
    served at the round's served_from (its last round by served_from, round id at or before it)."""
    pegs = expected["peg_usd"].astype(float)
    pegged = expected[expected["peg_reference_pair"].notna()]
    reference = rounds.rename(
        columns={"feed_pair": "peg_reference_pair", "served_from": "reference_from", "price": "reference_price"}
    ).sort_values(["reference_from", "round_id"])[["chain", "peg_reference_pair", "reference_from", "reference_price"]]
    joined = pd.merge_asof(
        pegged.reset_index().sort_values("served_from"), reference, left_on="served_from",
        right_on="reference_from", by=["chain", "peg_reference_pair"],
    ).set_index("index")  # fmt: skip
    first = reference.groupby(["chain", "peg_reference_pair"])["reference_price"].first()  # before it: its first
    level = joined["reference_price"].fillna(joined.apply(lambda r: first[(r.chain, r.peg_reference_pair)], axis=1))
    pegs.loc[joined.index] = joined["peg_usd"].astype(float) * level.astype(float)
    return pegs


def test_deviation_and_status_match_pandas(built) -> None:
    raw, marts, *_ = built
    rounds, feeds, _ = raw_frames(raw)
    expected = rounds.merge(feeds, on=["chain", "proxy_address"])
    assert expected["peg_reference_pair"].notna().any()  # EURC/USD, judged against EUR/USD
    price, peg = expected["price"].astype(float), pegs_at_rounds(expected, rounds)
    expected["deviation_pct"] = (price - peg) / peg * 100
    bps = expected["deviation_pct"].abs() * 100
    warning, critical = expected["warning_bps"].astype(float), expected["critical_bps"].astype(float)
    expected["peg_status"] = np.where(bps >= critical, "critical", np.where(bps >= warning, "warning", "healthy"))
    actual = query(
        f"select chain, proxy_address, round_id, deviation_pct, deviation_bps, peg_status from {marts}.STABLECOIN_PEG_HEALTH"
    )
    both = expected.merge(
        actual, on=["chain", "proxy_address", "round_id"], suffixes=("_pd", "_dbt"), validate="one_to_one"
    )
    assert len(both) == len(expected) == len(actual)
    assert np.allclose(both["deviation_pct_pd"], both["deviation_pct_dbt"].astype(float), rtol=0, atol=TOLERANCE)
    assert np.allclose(both["deviation_pct_pd"] * 100, both["deviation_bps"].astype(float), rtol=0, atol=TOLERANCE)
    assert (both["peg_status_pd"] == both["peg_status_dbt"]).all()
    assert set(both["peg_status_dbt"]) == {"healthy", "warning", "critical"}


def test_a_euro_coin_is_judged_against_eur_usd_served_at_the_same_moment(built, stack, feed_by_pair) -> None:
    """EURC/USD's peg at each of its rounds is EUR/USD's price the proxy served then (the simulated
    truth, not the warehouse), and its deviation is from that, not from $1."""
    raw, marts, *_ = built
    eurc = feed_by_pair["EURC/USD"]
    reference = history.served(history.phases(history.peg_reference(eurc), stack))
    served_at = [s.served_from for s in reference]
    first = query(f"select min(served_from) as first from {raw}.CHAINLINK_ROUNDS where feed_pair = 'EUR/USD'")
    first = first["first"][0]
    first_loaded = first.to_pydatetime().replace(tzinfo=UTC).timestamp()  # a carry-in before it is judged there
    rows = query(
        f"select round_id, served_from, price_usd, peg_usd, peg_reference_pair, peg_reference_round_id, "
        f"deviation_bps, peg_status from {marts}.STABLECOIN_PEG_HEALTH where feed_pair = 'EURC/USD'"
    )
    assert len(rows) > 10
    for row in rows.itertuples():
        at = max(row.served_from.to_pydatetime().replace(tzinfo=UTC).timestamp(), first_loaded)
        peg = reference[bisect.bisect_right(served_at, at) - 1].round  # the last served at or before it
        assert (row.peg_reference_pair, int(row.peg_reference_round_id)) == ("EUR/USD", peg.round_id), row
        assert float(row.peg_usd) == pytest.approx(float(history.price(peg, 8)), rel=1e-15, abs=0), row
        expected = (Decimal(str(row.price_usd)) / history.price(peg, 8) - 1) * 10_000
        assert float(row.deviation_bps) == pytest.approx(float(expected), abs=1e-6), row
    off_dollar = (rows.price_usd.astype(float) - 1).abs().mean() * 10_000  # EUR/USD is about 1.08 here
    assert off_dollar > 10 * rows.deviation_bps.astype(float).abs().mean()  # judged against the euro, not $1
    assert rows.deviation_bps.astype(float).abs().max() < eurc.warning_bps  # and EURC holds its peg
    assert set(rows.peg_status) == {"healthy"}


def test_served_intervals_tile_the_loaded_data(built) -> None:
    """Each round is the price from its served_from until the next round's (served_from, round_id
    order), the last one until the end of the newest loaded window: recomputed with pandas."""
    raw, marts, *_ = built
    rounds, _, windows = raw_frames(raw)
    data_as_of = windows.groupby(["chain", "proxy_address"], as_index=False)["window_end"].max()
    expected = rounds.sort_values(["chain", "proxy_address", "served_from", "round_id"]).merge(
        data_as_of, on=["chain", "proxy_address"]
    )
    following = expected.groupby(["chain", "proxy_address"])["served_from"].shift(-1)
    expected["is_last"] = following.isna()
    expected["until"] = following.fillna(expected["window_end"])
    staging = marts.removesuffix("_MARTS") + "_STAGING"
    actual = query(
        f"select chain, proxy_address, round_id, served_until, is_served_at_data_end "
        f"from {staging}.INT_CHAINLINK__SERVED_INTERVALS"
    )
    both = expected.merge(actual, on=["chain", "proxy_address", "round_id"], validate="one_to_one")
    assert len(both) == len(expected) == len(actual)
    assert (both["until"] == both["served_until"]).all()
    assert (both["is_last"] == both["is_served_at_data_end"]).all()
    assert both.groupby(["chain", "proxy_address"])["is_served_at_data_end"].sum().eq(1).all()


def pandas_zscores(rounds: pd.DataFrame, feeds: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """The hourly grid, carried-forward prices and rolling 24-hour statistics, recomputed with pandas."""
    out = []
    for (chain, proxy), feed_windows in windows.groupby(["chain", "proxy_address"]):
        matching = feeds[(feeds.chain == chain) & (feeds.proxy_address == proxy)]
        if matching.empty:  # a reference (ETH/USD, EUR/USD): loaded, but no peg feed, no grid
            continue
        feed = matching.iloc[0]
        scale = 10 ** int(feed.decimals)
        hours = sorted(
            {
                h
                for w in feed_windows.itertuples()
                for h in pd.date_range(w.window_start.floor("h"), w.window_end, freq="h", inclusive="left")
            }
        )
        feed_rounds = rounds[(rounds.chain == chain) & (rounds.proxy_address == proxy)].sort_values(
            ["served_from", "round_id"]
        )
        offsets = (feed_rounds["answer"].astype(object) - int(feed.peg_usd * scale)).astype(float).to_numpy()
        times = feed_rounds["served_from"].to_numpy()
        grid = pd.DataFrame({"hour_at": hours})
        ends = (grid["hour_at"] + pd.Timedelta(hours=1)).to_numpy()
        position = np.searchsorted(times, ends, side="left") - 1  # the last round served before the hour ends
        padded = np.append(offsets, np.nan)  # a feed not live yet has no round: every hour is before its first
        grid["offset"] = np.where(position >= 0, padded[np.clip(position, 0, None)], np.nan)
        means, stds, zs, flats = [], [], [], []
        for hour, offset in zip(grid["hour_at"], grid["offset"], strict=True):
            window = (
                grid[(grid.hour_at > hour - pd.Timedelta(hours=24)) & (grid.hour_at <= hour)]["offset"]
                .dropna()
                .to_numpy()
            )
            mean = window.mean() if len(window) else np.nan
            std = window.std(ddof=1) if len(window) >= 2 else np.nan
            flat = bool(len(window)) and window.min() == window.max()
            z = np.nan if (np.isnan(offset) or len(window) < 2 or flat) else (offset - mean) / std
            means.append(mean), stds.append(std), zs.append(z), flats.append(flat)
        grid["price_usd"] = float(feed.peg_usd) + grid["offset"] / scale
        grid["rolling_mean_24h"] = float(feed.peg_usd) + np.array(means) / scale
        grid["rolling_stddev_24h"] = np.array(stds) / scale
        grid["z_score"], grid["is_flat_window"] = zs, flats
        grid["chain"], grid["proxy_address"] = chain, proxy
        out.append(grid)
    return pd.concat(out, ignore_index=True)


def test_hourly_grid_and_zscores_match_pandas(built) -> None:
    raw, marts, days, _ = built
    expected = pandas_zscores(*raw_frames(raw))
    actual = query(
        f"select chain, proxy_address, hour_at, price_usd, rolling_mean_24h, rolling_stddev_24h, z_score, "
        f"is_flat_window, is_unusual, is_outlier from {marts}.STABLECOIN_PEG_ZSCORE"
    )
    feeds = query(f"select count(*) as n from {raw}.CHAINLINK_FEEDS").n[0]
    assert len(actual) == len(expected) == 24 * len(days) * int(feeds)
    both = expected.merge(
        actual, on=["chain", "proxy_address", "hour_at"], suffixes=("_pd", "_dbt"), validate="one_to_one"
    )
    assert len(both) == len(expected)
    for column in ("price_usd", "rolling_mean_24h", "rolling_stddev_24h", "z_score"):
        pd_values, dbt_values = both[f"{column}_pd"].astype(float), both[f"{column}_dbt"].astype(float)
        assert ((pd_values.isna()) == (dbt_values.isna())).all(), column
        assert np.allclose(pd_values.dropna(), dbt_values.dropna(), rtol=0, atol=TOLERANCE), column
    assert (both["is_flat_window_pd"] == both["is_flat_window_dbt"]).all()
    z = both["z_score_pd"].abs()
    assert ((z > 1).fillna(False) == both["is_unusual"]).all() and ((z > 2).fillna(False) == both["is_outlier"]).all()
    assert both["is_outlier"].any() and both["is_flat_window_dbt"].any()


def test_marts_show_the_scripted_episodes(built, stack, marts_feeds) -> None:
    _, marts, *_ = built
    events = query(
        f"select feed_pair, started_at, ended_at, worst_price_usd, worst_status from {marts}.STABLECOIN_DEPEG_EVENTS"
    )
    usdc = events[events.feed_pair == "USDC/USD"].sort_values("worst_price_usd").iloc[0]
    assert 0.87 < float(usdc.worst_price_usd) < 0.89 and usdc.worst_status == "critical"
    assert usdc.started_at.to_pydatetime() >= stack.depeg_start.replace(tzinfo=None)
    stale = query(f"select feed_pair, heartbeat_misses from {marts}.CHAINLINK_FEED_STALENESS")
    misses = dict(zip(stale.feed_pair, stale.heartbeat_misses, strict=True))
    assert misses == {f.pair: int(f.pair == "USDT/USD") for f in marts_feeds}  # USDT's outage only
    daily = query(f"select day, rounds, day_status from {marts}.STABLECOIN_PEG_DAILY where feed_pair = 'USDC/USD'")
    assert daily.set_index("day").loc[stack.depeg_start.date(), "day_status"] == "critical"


def test_each_day_names_the_witnesses_of_its_events(built, stack) -> None:
    """Per feed and day: the depeg events overlapping it (the events mart), its strongest witness
    (both, else the oracle's, else the market's), confirmed when one was seen by both; and the
    market's priced readings that day and their worst deviation (the market mart)."""
    _, marts, *_ = built
    events = query(f"select feed_pair, started_at, ended_at, is_open, seen_by from {marts}.STABLECOIN_DEPEG_EVENTS")
    daily = query(
        f"select feed_pair, day, depeg_events, seen_by, is_confirmed, market_readings, market_worst_abs_deviation_bps "
        f"from {marts}.STABLECOIN_PEG_DAILY"
    )
    market = query(
        f"select feed_pair, to_date(priced_at) as day, market_deviation_bps from {marts}.STABLECOIN_MARKET_VS_ORACLE "
        f"where market_price_usd is not null"
    )
    rank = {"both": 3, "oracle": 2, "oracle (no pools)": 2, "market": 1}
    for row in daily.itertuples():
        start = pd.Timestamp(row.day)
        mine = events[
            (events.feed_pair == row.feed_pair)
            & (events.started_at < start + DAY)
            & (events.is_open.astype(bool) | (events.ended_at > start))
        ]
        want = max(mine.seen_by, key=rank.__getitem__) if len(mine) else None
        seen_by = row.seen_by if isinstance(row.seen_by, str) else None  # a null arrives as NaN
        assert (int(row.depeg_events), seen_by, bool(row.is_confirmed)) == (len(mine), want, want == "both"), row
        priced = market[(market.feed_pair == row.feed_pair) & (market.day == row.day)]
        assert int(row.market_readings) == len(priced), row
        if len(priced):
            worst = priced.market_deviation_bps.astype(float).abs().max()
            assert float(row.market_worst_abs_deviation_bps) == pytest.approx(worst, abs=1e-9), row
        else:
            assert pd.isna(row.market_worst_abs_deviation_bps), row
    depeg_day = daily[(daily.feed_pair == "USDC/USD") & (daily.day == stack.depeg_start.date())].iloc[0]
    # these marts load no pools: the oracle is the only witness of the scripted depeg, and the day says so
    assert (depeg_day.seen_by, bool(depeg_day.is_confirmed), int(depeg_day.market_readings)) == (
        "oracle (no pools)",
        False,
        0,
    )


def test_loading_old_days_later_gives_the_same_marts(built, marts_feeds, tmp_path) -> None:
    raw, marts, days, _ = built
    shuffled = f"SHUF_{uuid.uuid4().hex[:8].upper()}"
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"create schema {shuffled}")
    try:
        load_days(shuffled, marts_feeds, list(reversed(days[1::2])) + list(reversed(days[::2])))
        result = dbt_build(shuffled, f"{shuffled}_A", tmp_path)
        assert result.returncode == 0, result.stdout[-4000:]
        for table, key in [
            ("STABLECOIN_PEG_HEALTH", "chain, proxy_address, round_id"),
            ("STABLECOIN_PEG_ZSCORE", "chain, proxy_address, hour_at"),
            ("STABLECOIN_DEPEG_EVENTS", "depeg_event_id"),
            ("STABLECOIN_PEG_DAILY", "chain, proxy_address, day"),
            ("CHAINLINK_FEED_STALENESS", "chain, proxy_address"),
        ]:
            in_order = query(f"select * from {marts}.{table} order by {key}")
            out_of_order = query(f"select * from {shuffled}_A_MARTS.{table} order by {key}")
            pd.testing.assert_frame_equal(in_order, out_of_order, check_exact=False, rtol=0, atol=TOLERANCE)
    finally:
        drop_pipeline(shuffled)
