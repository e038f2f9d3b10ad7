"""The marts' queries (read only), each cached on the data version: the one place pages get data from.

Every query is a constant `select` on the dbt marts with bound parameters; only the configured
marts schema, validated as an identifier, and integer bucket sizes computed here are written into
the SQL text. `@cached` caches a query's result with `st.cache_data`, keyed on its arguments, the
marts schema and a cheap *data version* (a digest of the marts' row counts, the newest loaded
window, last update and market reading, and the tables' last change): the version itself is re-read every few
seconds (`PEG_DATA_VERSION_TTL`, default 10 s), so new data shows on the next rerun after it
lands, while unchanged data is served from the cache. Connecting and errors: `connection`.

All timestamps are naive `datetime`s in UTC, like the marts' TIMESTAMP_NTZ columns; a range is
`[start, end)`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from peg_dashboard.connection import query, settings

HEALTH = "STABLECOIN_PEG_HEALTH"
ZSCORE = "STABLECOIN_PEG_ZSCORE"
EVENTS = "STABLECOIN_DEPEG_EVENTS"
DAILY = "STABLECOIN_PEG_DAILY"
STALENESS = "CHAINLINK_FEED_STALENESS"
MARTS = (HEALTH, ZSCORE, EVENTS, DAILY, STALENESS)
MARKET = "STABLECOIN_MARKET_VS_ORACLE"  # a view: its newest reading, not a row count, is in the version

UNUSUAL_ABS_Z = 1
OUTLIER_ABS_Z = 2
Z_STATUSES = ("normal", "unusual", "outlier", "no z-score")
# An L2 sequencer's statuses with a start (the marts' "unknown" and a chain without one have none),
# and those under which the chain's prices are untrusted: down, in its grace period, or not known yet
# (the marts' is_price_trusted).
SEQUENCER_KNOWN = ("up", "down", "grace")
SEQUENCER_UNTRUSTED = ("down", "grace", "unknown")

# Chart resolution: at most about this many points per feed, on these bucket sizes.
PRICE_POINTS_PER_FEED = 1000
PRICE_BUCKETS_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
ZSCORE_CELLS_PER_FEED = 250
ZSCORE_BUCKETS_HOURS = (1, 2, 3, 6, 12, 24, 48, 7 * 24)
LATEST_UPDATES_LIMIT = 100
FLAGGED_HOURS_LIMIT = 500
CACHE = {"ttl": timedelta(hours=1), "max_entries": 128, "show_spinner": False}

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Feed:
    """One Chainlink feed in the data, with the peg thresholds the registry gives it (via the marts)."""

    chain: str
    proxy_address: str
    feed_pair: str
    symbol: str
    heartbeat_seconds: int
    warning_bps: int
    critical_bps: int

    @property
    def thresholds(self) -> tuple[int, int]:
        """(warning_bps, critical_bps): a status is warning from the first, critical from the second."""
        return self.warning_bps, self.critical_bps


@dataclass(frozen=True)
class DataVersion:
    """What the app serves: a digest of the marts' state, and the end of the loaded data."""

    token: str
    data_as_of: datetime | None
    feeds: int


# --- the data version and the cache keyed on it ----------------------------------------------


def data_version() -> DataVersion:
    """The version of the marts being served, re-read at most every `data_version_ttl_seconds`."""
    config = settings()
    return _data_version(config.qualified_schema, int(time.time() // config.data_version_ttl_seconds))


@st.cache_data(max_entries=16, show_spinner=False)
def _data_version(marts: str, time_bucket: int) -> DataVersion:
    # `time_bucket` (unused in the body) is part of the cache key: a new bucket every few seconds
    # means a fresh read, shared by every session and the freshness route.
    database, schema = marts.split(".")
    counts = ", ".join(f"(select count(*) from {marts}.{t}) as {t.lower()}_rows" for t in MARTS)
    # The market's newest reading too: a near-real-time run's pool load may commit after its round
    # load, and a version read between the two would keep the older market until the next run.
    state = query(
        f"select {counts}, s.feeds, s.data_as_of, s.last_updated_at, s.rounds_loaded, m.market_as_of, "
        f"t.last_altered "
        f"from (select count(*) as feeds, max(data_as_of) as data_as_of, max(last_updated_at) as last_updated_at, "
        f"sum(rounds_loaded) as rounds_loaded from {marts}.{STALENESS}) as s "
        f"cross join (select max(priced_at) as market_as_of from {marts}.{MARKET}) as m "
        f"cross join (select max(last_altered) as last_altered from {database}.information_schema.tables "
        f"where table_schema = ?) as t",
        (schema,),
    )
    row = state.iloc[0]
    digest = hashlib.sha256(repr(tuple(str(v) for v in row.tolist()) + (marts,)).encode()).hexdigest()[:12]
    data_as_of = None if int(row["feeds"]) == 0 else pd.Timestamp(row["data_as_of"]).to_pydatetime()
    return DataVersion(token=digest, data_as_of=data_as_of, feeds=int(row["feeds"]))


def cached(func: Callable[Concatenate[str, P], R]) -> Callable[P, R]:
    """Cache a query written as `func(marts, *args)`: callers pass `*args`, the result is cached
    (`st.cache_data`, `CACHE`) on them, the configured marts schema and the data version served."""

    def on_version(marts: str, version: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return func(marts, *args, **kwargs)

    # Streamlit keys a function's cache on its module and qualified name: one cache per query.
    on_version.__module__, on_version.__qualname__ = func.__module__, func.__qualname__
    cached_query = st.cache_data(**CACHE)(on_version)

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return cached_query(settings().qualified_schema, data_version().token, *args, **kwargs)

    return run


# A chart's series: the token, with its chain when that is not Ethereum (USDC on Arbitrum is a line of
# its own, never merged into Ethereum's).
SERIES = "case when chain = 'ethereum' then symbol else symbol || ' (' || chain || ')' end"


def _feed_filter(feed: Feed | None) -> tuple[str, tuple[Any, ...]]:
    if feed is None:
        return "", ()
    return " and chain = ? and proxy_address = ?", (feed.chain, feed.proxy_address)


def _floats(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def _bucket(minimum: float, steps: tuple[int, ...]) -> int:
    return next((step for step in steps if step >= minimum), steps[-1] * math.ceil(minimum / steps[-1]))


# --- feeds, bounds and freshness ------------------------------------------------------------


@cached
def feeds(marts: str) -> list[Feed]:
    """Every feed in the data (the staleness mart has one row per feed with loaded windows)."""
    frame = query(
        f"select chain, proxy_address, feed_pair, symbol, heartbeat_seconds, warning_bps, critical_bps "
        f"from {marts}.{STALENESS} order by symbol, feed_pair, chain"
    )
    return [
        Feed(
            r.chain, r.proxy_address, r.feed_pair, r.symbol, int(r.heartbeat_seconds), int(r.warning_bps),
            int(r.critical_bps),
        )
        for r in frame.itertuples(index=False)
    ]  # fmt: skip


@cached
def day_bounds(marts: str) -> tuple[date, date] | None:
    """The first and last UTC day with loaded data, or None when the marts are empty. The last day
    follows the near-real-time loads (the staleness view's end of loaded data), not only the daily
    table, so a new day's rounds show before the daily DAG has built it."""
    frame = query(
        f"select coalesce(d.first_day, s.last_loaded_day) as first_day, "
        f"greatest_ignore_nulls(d.last_day, s.last_loaded_day) as last_day "
        f"from (select min(day) as first_day, max(day) as last_day from {marts}.{DAILY}) as d "
        f"cross join (select to_date(dateadd('second', -1, max(data_as_of))) as last_loaded_day "
        f"from {marts}.{STALENESS}) as s"
    )
    first, last = frame.iloc[0]["first_day"], frame.iloc[0]["last_day"]
    if pd.isna(first) or pd.isna(last):
        return None
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def freshness() -> tuple[DataVersion, pd.DataFrame]:
    """The version served and, per feed, the end of its loaded data, its last update and its market's
    newest reading."""
    version = data_version()  # read first: the feeds are of this version or a newer one, never older
    return version, _feed_freshness()


@cached
def _feed_freshness(marts: str) -> pd.DataFrame:
    # market_as_of: the market's newest reading the Market vs Oracle page shows (priced or thin).
    frame = query(
        f"select s.feed_pair, s.chain, s.proxy_address, s.data_as_of, s.last_updated_at, s.rounds_loaded, "
        f"m.market_as_of, coalesce(m.readings, 0) as market_readings "
        f"from {marts}.{STALENESS} as s left join ("
        f"select chain, proxy_address, max(priced_at) as market_as_of, count(*) as readings "
        f"from {marts}.{MARKET} group by chain, proxy_address"
        f") as m on m.chain = s.chain and m.proxy_address = s.proxy_address order by s.feed_pair, s.chain"
    )
    # A feed without rounds has no last update, one without pools no market (the emulator returns
    # NULL timestamps as 1970).
    frame.loc[frame["rounds_loaded"] == 0, "last_updated_at"] = pd.NaT
    frame.loc[frame["market_readings"] == 0, "market_as_of"] = pd.NaT
    return frame


@cached
def feed_staleness(marts: str, feed: Feed | None) -> pd.DataFrame:
    where, params = _feed_filter(feed)
    frame = query(
        f"select feed_pair, symbol, chain, proxy_address, heartbeat_seconds, data_as_of, last_updated_at, "
        f"seconds_since_last_update, is_stale, rounds_loaded, max_gap_seconds, heartbeat_misses, "
        f"last_heartbeat_miss_at, sequencer_status, sequencer_status_since from {marts}.{STALENESS} "
        f"where true{where} order by symbol, feed_pair, chain",
        params,
    )
    frame.loc[frame["rounds_loaded"] == 0, "last_updated_at"] = pd.NaT
    frame.loc[frame["heartbeat_misses"] == 0, "last_heartbeat_miss_at"] = pd.NaT
    # an L2's sequencer status has a start once known; elsewhere there is none (NULL reaches us as 1970)
    frame.loc[~frame["sequencer_status"].isin(SEQUENCER_KNOWN), "sequencer_status_since"] = pd.NaT
    for column in ("heartbeat_seconds", "rounds_loaded", "heartbeat_misses"):
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    return _floats(frame, "seconds_since_last_update", "max_gap_seconds")


# --- peg deviation ----------------------------------------------------------------------------


@cached
def latest_status(marts: str, feed: Feed | None, until: datetime) -> pd.DataFrame:
    """Per feed, the last round the proxy served before `until` (the price in effect then) and its status."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select chain, proxy_address, feed_pair, symbol, round_id, served_from, price_usd, deviation_pct, "
        f"deviation_bps, abs_deviation_bps, peg_status, sequencer_status, is_price_trusted "
        f"from {marts}.{HEALTH} where served_from < ?{where} "
        f"qualify row_number() over (partition by chain, proxy_address order by served_from desc, round_id desc) = 1 "
        f"order by symbol, feed_pair",
        (until, *params),
    )
    frame["round_id"] = frame["round_id"].astype(str)
    return _floats(frame, "price_usd", "deviation_pct", "deviation_bps", "abs_deviation_bps")


@cached
def latest_market(marts: str, feed: Feed | None, until: datetime) -> pd.DataFrame:
    """Per feed with pools, the market's last verdict before `until`: its price, the oracle's
    divergence from it, and whether the oracle was divergent or silent or the market thin."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select chain, proxy_address, feed_pair, priced_at, cast(market_price_usd as float) as market_price_usd, "
        f"cast(divergence_bps as float) as divergence_bps, is_divergent, is_silent_oracle, is_thin_market "
        f"from {marts}.{MARKET} where priced_at < ?{where} "
        f"qualify row_number() over (partition by chain, proxy_address order by priced_at desc) = 1",
        (until, *params),
    )
    for column in ("is_divergent", "is_silent_oracle", "is_thin_market"):
        frame[column] = frame[column].astype(bool)
    return _floats(frame, "market_price_usd", "divergence_bps")


@cached
def latest_updates(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """The newest rounds in the range (at most LATEST_UPDATES_LIMIT), newest first."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select served_from, {SERIES} as symbol, feed_pair, price_usd, deviation_pct, deviation_bps, peg_status, round_id, "
        f"phase_id, seconds_since_previous_update, is_heartbeat_exceeded from {marts}.{HEALTH} "
        f"where served_from >= ? and served_from < ?{where} order by served_from desc, round_id desc "
        f"limit {LATEST_UPDATES_LIMIT}",
        (start, end, *params),
    )
    frame["round_id"] = frame["round_id"].astype(str)
    frame["phase_id"] = pd.to_numeric(frame["phase_id"]).astype("int64")
    return _floats(frame, "price_usd", "deviation_pct", "deviation_bps", "seconds_since_previous_update")


def price_bucket_seconds(start: datetime, end: datetime) -> int:
    """The chart resolution for a range: the smallest bucket giving at most ~1000 points per feed."""
    return _bucket((end - start).total_seconds() / PRICE_POINTS_PER_FEED, PRICE_BUCKETS_SECONDS)


@cached
def price_series(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Per feed and time bucket: closing, low and high price, the peg at the close, the most negative
    and positive deviation in bps, the signed worst deviation, and the number of rounds."""
    where, params = _feed_filter(feed)
    # Prices as floats before aggregating (the frame holds floats anyway): decimals aggregate slowly.
    frame = query(
        f"select chain, symbol, feed_pair, time_slice(served_from, {price_bucket_seconds(start, end)}, 'SECOND') "
        f"as bucket_at, max_by(price, served_from) as close_price_usd, min(price) as low_price_usd, "
        f"max(price) as high_price_usd, max_by(peg, served_from) as close_peg_usd, "
        f"min(deviation_bps) as min_deviation_bps, max(deviation_bps) as max_deviation_bps, count(*) as rounds "
        f"from (select chain, {SERIES} as symbol, feed_pair, served_from, cast(price_usd as float) as price, "
        f"cast(peg_usd as float) as peg, deviation_bps "
        f"from {marts}.{HEALTH} where served_from >= ? and served_from < ?{where}) as r "
        f"group by chain, symbol, feed_pair, bucket_at order by symbol, bucket_at",
        (start, end, *params),
    )
    frame = _floats(
        frame,
        "close_price_usd",
        "low_price_usd",
        "high_price_usd",
        "close_peg_usd",
        "min_deviation_bps",
        "max_deviation_bps",
    )
    frame["worst_deviation_bps"] = frame["max_deviation_bps"].where(
        frame["max_deviation_bps"].abs() >= frame["min_deviation_bps"].abs(), frame["min_deviation_bps"]
    )
    return frame


# --- z-scores ---------------------------------------------------------------------------------


def zscore_bucket_hours(start: datetime, end: datetime) -> int:
    """The heatmap resolution for a range: the smallest bucket giving at most ~250 cells per feed."""
    return _bucket((end - start).total_seconds() / 3600 / ZSCORE_CELLS_PER_FEED, ZSCORE_BUCKETS_HOURS)


@cached
def zscore_series(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Per feed and bucket of hours: the signed most extreme z-score, average price and rolling
    24 h mean and standard deviation."""
    where, params = _feed_filter(feed)
    bucket_hours = zscore_bucket_hours(start, end)
    frame = query(
        f"select {SERIES} as symbol, feed_pair, time_slice(hour_at, {bucket_hours}, 'HOUR') as bucket_at, "
        f"min(z_score) as min_z_score, max(z_score) as max_z_score, avg(price_usd) as price_usd, "
        f"avg(rolling_mean_24h) as rolling_mean_24h, avg(rolling_stddev_24h) as rolling_stddev_24h, "
        f"count(z_score) as z_hours, count(*) as hours from {marts}.{ZSCORE} "
        f"where hour_at >= ? and hour_at < ?{where} group by chain, symbol, feed_pair, bucket_at "
        f"order by symbol, bucket_at",
        (start, end, *params),
    )
    frame = _floats(frame, "min_z_score", "max_z_score", "price_usd", "rolling_mean_24h", "rolling_stddev_24h")
    frame["z_score"] = frame["max_z_score"].where(
        frame["max_z_score"].abs() >= frame["min_z_score"].abs(), frame["min_z_score"]
    )
    frame["bucket_end"] = frame["bucket_at"] + pd.Timedelta(hours=bucket_hours)
    return frame


@cached
def zscore_histogram(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours per feed and half-sigma z-score bin (tails folded into the ±6 bins)."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select {SERIES} as symbol, greatest(least(floor(z_score * 2) / 2, 5.5), -6) as z_bin, count(*) as hours "
        f"from {marts}.{ZSCORE} where z_score is not null and hour_at >= ? and hour_at < ?{where} "
        f"group by chain, symbol, z_bin order by symbol, z_bin",
        (start, end, *params),
    )
    frame = _floats(frame, "z_bin")
    frame["z_bin_end"] = frame["z_bin"] + 0.5
    return frame


@cached
def zscore_status_counts(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours per feed and z-score status: normal, unusual (1 < |z| <= 2), outlier (|z| > 2), no z-score."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select {SERIES} as symbol, case when z_score is null then 'no z-score' when is_outlier then 'outlier' "
        f"when is_unusual then 'unusual' else 'normal' end as z_status, count(*) as hours "
        f"from {marts}.{ZSCORE} where hour_at >= ? and hour_at < ?{where} group by chain, symbol, z_status "
        f"order by symbol, z_status",
        (start, end, *params),
    )
    frame["hours"] = pd.to_numeric(frame["hours"]).astype("int64")
    return frame


@cached
def flagged_hours(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours with |z| > 1 (unusual, outliers above |z| > 2), most extreme first (at most FLAGGED_HOURS_LIMIT)."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select hour_at, {SERIES} as symbol, feed_pair, case when is_outlier then 'outlier' else 'unusual' end as flag, "
        f"z_score, price_usd, rolling_mean_24h, rolling_stddev_24h, observations_24h from {marts}.{ZSCORE} "
        f"where is_unusual and hour_at >= ? and hour_at < ?{where} "
        f"order by abs(z_score) desc, hour_at, symbol limit {FLAGGED_HOURS_LIMIT}",
        (start, end, *params),
    )
    return _floats(frame, "z_score", "price_usd", "rolling_mean_24h", "rolling_stddev_24h")


# --- depeg events and daily status ------------------------------------------------------------


@cached
def depeg_events(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Depeg events overlapping the range, worst first."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select depeg_event_id, {SERIES} as symbol, feed_pair, started_at, ended_at, is_open, duration_seconds, "
        f"rounds_off_peg, worst_price_usd, worst_deviation_bps, worst_abs_deviation_bps, worst_status, seen_by, "
        f"market_crossed_at from {marts}.{EVENTS} where started_at < ? and (ended_at is null or ended_at > ?){where} "
        f"order by worst_abs_deviation_bps desc, started_at",
        (end, start, *params),
    )
    # An open event has no end (the emulator returns NULL timestamps as 1970).
    frame.loc[frame["is_open"].astype(bool), "ended_at"] = pd.NaT
    frame.loc[~frame["seen_by"].isin(["both", "market"]), "market_crossed_at"] = pd.NaT
    frame["rounds_off_peg"] = pd.to_numeric(frame["rounds_off_peg"]).astype("int64")
    return _floats(frame, "duration_seconds", "worst_price_usd", "worst_deviation_bps", "worst_abs_deviation_bps")


@cached
def daily_status(marts: str, feed: Feed | None, first_day: date, last_day: date) -> pd.DataFrame:
    """Per feed and UTC day: prices, rounds, time off peg, worst deviation and |z|, day status."""
    where, params = _feed_filter(feed)
    frame = query(
        f"select day, {SERIES} as symbol, feed_pair, day_status, open_price_usd, close_price_usd, low_price_usd, high_price_usd, "
        f"rounds, seconds_off_peg, worst_abs_deviation_bps, worst_abs_z_score from {marts}.{DAILY} "
        f"where day >= ? and day <= ?{where} order by day, symbol",
        (first_day, last_day, *params),
    )
    frame["day"] = pd.to_datetime(frame["day"])
    return _floats(
        frame,
        "open_price_usd",
        "close_price_usd",
        "low_price_usd",
        "high_price_usd",
        "rounds",
        "seconds_off_peg",
        "worst_abs_deviation_bps",
        "worst_abs_z_score",
    )


# --- market vs oracle -------------------------------------------------------------------------


@cached
def market_vs_oracle(marts: str, feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Per feed with pools and time bucket (at least an hour: the pools are read hourly): the last
    oracle and market prices, the widest divergence and its limit, the thinnest usable depth, the
    worst sized-quote slippage of the best pool, and whether the bucket held a divergence, a silent
    oracle or a thin market."""
    where, params = _feed_filter(feed)
    bucket = max(3600, price_bucket_seconds(start, end))
    frame = query(
        f"select symbol, feed_pair, time_slice(priced_at, {bucket}, 'SECOND') as bucket_at, "
        f"max_by(oracle_price_usd, priced_at) as oracle_price_usd, "
        f"max_by(market_price_usd, iff(market_price_usd is null, null, priced_at)) as market_price_usd, "
        f"max_by(divergence_bps, abs(divergence_bps)) as divergence_bps, "
        f"max(divergence_limit_bps) as divergence_limit_bps, min(usable_depth_usd) as usable_depth_usd, "
        f"max(best_quote_slippage_bps) as quote_slippage_bps, max(iff(is_divergent, 1, 0)) as divergent, max(iff(is_silent_oracle, 1, 0)) as silent_oracle, "
        f"max(iff(is_thin_market, 1, 0)) as thin_market "
        f"from (select {SERIES} as symbol, feed_pair, priced_at, cast(oracle_price_usd as float) as oracle_price_usd, "
        f"cast(market_price_usd as float) as market_price_usd, cast(divergence_bps as float) as divergence_bps, "
        f"divergence_limit_bps, usable_depth_usd, cast(best_quote_slippage_bps as float) as best_quote_slippage_bps, "
        f"is_divergent, is_silent_oracle, is_thin_market "
        f"from {marts}.{MARKET} where priced_at >= ? and priced_at < ?{where}) as m "
        f"group by symbol, feed_pair, bucket_at order by symbol, bucket_at",
        (start, end, *params),
    )
    frame = _floats(
        frame, "oracle_price_usd", "market_price_usd", "divergence_bps", "divergence_limit_bps", "usable_depth_usd",
        "quote_slippage_bps",
    )  # fmt: skip
    for column in ("divergent", "silent_oracle", "thin_market"):
        frame[column] = pd.to_numeric(frame[column]).astype(bool)
    return frame
