"""The data layer: the one place that connects to Snowflake and queries the marts (read only).

Every query is a constant `select` on the dbt marts with bound parameters; only the configured
marts schema, validated as an identifier, and integer bucket sizes computed here are written into
the SQL text. Results are cached with `st.cache_data`, keyed on a cheap *data version* (a digest
of the marts' row counts, the newest loaded window and last update, and the tables' last change):
the version itself is re-read every few seconds (`PEG_DATA_VERSION_TTL`, default 10 s), so new
data shows on the next rerun after it lands, while unchanged data is served from the cache.

All timestamps are naive `datetime`s in UTC, like the marts' TIMESTAMP_NTZ columns; a range is
`[start, end)`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from peg_dashboard.config import ConfigurationError, DashboardSettings, load_settings

if TYPE_CHECKING:
    from streamlit.connections import SnowflakeConnection

log = logging.getLogger(__name__)

HEALTH = "STABLECOIN_PEG_HEALTH"
ZSCORE = "STABLECOIN_PEG_ZSCORE"
EVENTS = "STABLECOIN_DEPEG_EVENTS"
DAILY = "STABLECOIN_PEG_DAILY"
STALENESS = "CHAINLINK_FEED_STALENESS"
MARTS = (HEALTH, ZSCORE, EVENTS, DAILY, STALENESS)

UNUSUAL_ABS_Z = 1
OUTLIER_ABS_Z = 2
Z_STATUSES = ("normal", "unusual", "outlier", "no z-score")

# Chart resolution: at most about this many points per feed, on these bucket sizes.
PRICE_POINTS_PER_FEED = 1000
PRICE_BUCKETS_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
ZSCORE_CELLS_PER_FEED = 250
ZSCORE_BUCKETS_HOURS = (1, 2, 3, 6, 12, 24, 48, 7 * 24)
LATEST_UPDATES_LIMIT = 100
FLAGGED_HOURS_LIMIT = 500
CACHE = {"ttl": timedelta(hours=1), "max_entries": 128, "show_spinner": False}

_CONNECTION_NAME = "peg_marts"
_OBJECT_DOES_NOT_EXIST = 2003


class DataError(Exception):
    """The marts cannot be read; the message is safe to show and says what to do."""


class WarehouseUnavailable(DataError):
    """The warehouse did not answer or refused the login."""


class MartsNotFound(DataError):
    """The connection works but the marts schema or tables are missing."""


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
    def key(self) -> str:
        return f"{self.chain}:{self.proxy_address}"

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


@dataclass(frozen=True)
class ConnectionStatus:
    """The result of a live check: where the app reads from (never a secret) and whether it works."""

    ok: bool
    summary: dict[str, str]
    latency_ms: float | None = None
    error: str | None = None


# --- settings and connection -------------------------------------------------------------


def settings() -> DashboardSettings:
    """The current settings (secrets, then environment); raises ConfigurationError."""
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml (or one that does not parse): the environment decides
        secrets = {}
    return load_settings(secrets)


def _connection(config: DashboardSettings) -> SnowflakeConnection:
    from streamlit.connections import SnowflakeConnection

    try:
        return st.connection(_CONNECTION_NAME, type=SnowflakeConnection, **config.connect_kwargs())
    except Exception as exc:  # noqa: BLE001 - any connector or config failure becomes one actionable error
        raise _translate(exc, config) from None


def _translate(exc: Exception, config: DashboardSettings) -> DataError:
    """A display-safe error for a connector exception (no secrets, no traceback)."""
    from snowflake.connector import errors

    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for secret in config.secret_values():
        message = message.replace(secret, "***")
    if isinstance(exc, errors.ProgrammingError) and exc.errno == _OBJECT_DOES_NOT_EXIST:
        return MartsNotFound(
            f"The marts are not in `{config.qualified_schema}` ({message[:200]}). Build them with dbt (the daily "
            "DAG, or `make demo` locally), or point `PEG_MARTS_SCHEMA` / `[peg_monitor] marts_schema` at the "
            "schema that holds them."
        )
    where = config.describe()
    target = f"{where['backend']} (account `{where['account']}`"
    target += f" at `{where['address']}`)" if "address" in where else ")"
    hint = (
        "Start the local stack with `make stack-up`."
        if config.is_emulator
        else "Check the account, user, credentials, role and warehouse in `[connections.snowflake]`."
    )
    return WarehouseUnavailable(f"Cannot read from {target}: {type(exc).__name__}: {message[:300]}. {hint}")


def _is_connection_lost(exc: Exception) -> bool:
    from snowflake.connector import errors

    return isinstance(exc, (errors.OperationalError, errors.InterfaceError)) or (
        getattr(exc, "sqlstate", "") or ""
    ).startswith("08")


def _query(sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Run one read-only query on the cached connection; lower-case column names.

    A connection lost since it was cached (emulator restarted, session expired) is re-opened once.
    """
    config = settings()
    conn = _connection(config)
    for attempt in (1, 2):
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                frame = cur.fetch_pandas_all()
            frame.columns = [c.lower() for c in frame.columns]
            return frame
        except Exception as exc:  # noqa: BLE001 - translated into a DataError below
            if attempt == 1 and _is_connection_lost(exc):
                log.warning("lost the warehouse connection (%s), reconnecting", type(exc).__name__)
                conn.reset()
                continue
            raise _translate(exc, config) from None
    raise AssertionError("unreachable")


def _table(name: str) -> str:
    return f"{settings().qualified_schema}.{name}"


def _feed_filter(feed_key: str | None, alias: str = "") -> tuple[str, tuple[Any, ...]]:
    if feed_key is None:
        return "", ()
    chain, proxy = feed_key.split(":", 1)
    prefix = f"{alias}." if alias else ""
    return f" and {prefix}chain = ? and {prefix}proxy_address = ?", (chain, proxy)


def _floats(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def connection_status() -> ConnectionStatus:
    """A live check (not cached): one `select 1` on the cached connection, timed."""
    try:
        config = settings()
    except ConfigurationError as exc:
        return ConnectionStatus(ok=False, summary={"backend": "not configured"}, error=str(exc))
    started = time.perf_counter()
    try:
        _query("select 1 as ok")
    except DataError as exc:
        return ConnectionStatus(ok=False, summary=config.describe(), error=str(exc))
    return ConnectionStatus(ok=True, summary=config.describe(), latency_ms=(time.perf_counter() - started) * 1000)


# --- the data version ------------------------------------------------------------------------


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
    state = _query(
        f"select {counts}, s.feeds, s.data_as_of, s.last_updated_at, s.rounds_loaded, t.last_altered "
        f"from (select count(*) as feeds, max(data_as_of) as data_as_of, max(last_updated_at) as last_updated_at, "
        f"sum(rounds_loaded) as rounds_loaded from {marts}.{STALENESS}) as s "
        f"cross join (select max(last_altered) as last_altered from {database}.information_schema.tables "
        f"where table_schema = ?) as t",
        (schema,),
    )
    row = state.iloc[0]
    digest = hashlib.sha256(repr(tuple(str(v) for v in row.tolist()) + (marts,)).encode()).hexdigest()[:12]
    data_as_of = None if int(row["feeds"]) == 0 else pd.Timestamp(row["data_as_of"]).to_pydatetime()
    return DataVersion(token=digest, data_as_of=data_as_of, feeds=int(row["feeds"]))


def _version() -> tuple[str, str]:
    return settings().qualified_schema, data_version().token


# --- feeds, bounds and freshness ------------------------------------------------------------


def feeds() -> list[Feed]:
    """Every feed in the data (the staleness mart has one row per feed with loaded windows)."""
    frame = _feeds(*_version())
    return [
        Feed(
            r.chain, r.proxy_address, r.feed_pair, r.symbol, int(r.heartbeat_seconds), int(r.warning_bps),
            int(r.critical_bps),
        )
        for r in frame.itertuples(index=False)
    ]  # fmt: skip


@st.cache_data(**CACHE)
def _feeds(marts: str, version: str) -> pd.DataFrame:
    return _query(
        f"select chain, proxy_address, feed_pair, symbol, heartbeat_seconds, warning_bps, critical_bps "
        f"from {marts}.{STALENESS} order by symbol, feed_pair, chain"
    )


def day_bounds() -> tuple[date, date] | None:
    """The first and last UTC day with loaded data, or None when the marts are empty. The last day
    follows the near-real-time loads (the staleness view's end of loaded data), not only the daily
    table, so a new day's rounds show before the daily DAG has built it."""
    frame = _day_bounds(*_version())
    first, last = frame.iloc[0]["first_day"], frame.iloc[0]["last_day"]
    if pd.isna(first) or pd.isna(last):
        return None
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


@st.cache_data(**CACHE)
def _day_bounds(marts: str, version: str) -> pd.DataFrame:
    return _query(
        f"select coalesce(d.first_day, s.last_loaded_day) as first_day, "
        f"greatest_ignore_nulls(d.last_day, s.last_loaded_day) as last_day "
        f"from (select min(day) as first_day, max(day) as last_day from {marts}.{DAILY}) as d "
        f"cross join (select to_date(dateadd('second', -1, max(data_as_of))) as last_loaded_day "
        f"from {marts}.{STALENESS}) as s"
    )


def freshness() -> tuple[DataVersion, pd.DataFrame]:
    """The version served and, per feed, the end of its loaded data and its last update."""
    version = data_version()
    return version, _freshness(settings().qualified_schema, version.token)


@st.cache_data(**CACHE)
def _freshness(marts: str, version: str) -> pd.DataFrame:
    frame = _query(
        f"select feed_pair, chain, proxy_address, data_as_of, last_updated_at, rounds_loaded "
        f"from {marts}.{STALENESS} order by feed_pair, chain"
    )
    # A feed without rounds has no last update (the emulator returns NULL timestamps as 1970).
    frame.loc[frame["rounds_loaded"] == 0, "last_updated_at"] = pd.NaT
    return frame


def feed_staleness(feed: Feed | None) -> pd.DataFrame:
    return _feed_staleness(*_version(), feed.key if feed else None)


@st.cache_data(**CACHE)
def _feed_staleness(marts: str, version: str, feed_key: str | None) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select feed_pair, symbol, chain, proxy_address, heartbeat_seconds, data_as_of, last_updated_at, "
        f"seconds_since_last_update, is_stale, rounds_loaded, max_gap_seconds, heartbeat_misses, "
        f"last_heartbeat_miss_at from {marts}.{STALENESS} where true{where} order by symbol, feed_pair",
        params,
    )
    frame.loc[frame["rounds_loaded"] == 0, "last_updated_at"] = pd.NaT
    frame.loc[frame["heartbeat_misses"] == 0, "last_heartbeat_miss_at"] = pd.NaT
    for column in ("heartbeat_seconds", "rounds_loaded", "heartbeat_misses"):
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    return _floats(frame, "seconds_since_last_update", "max_gap_seconds")


# --- peg deviation ----------------------------------------------------------------------------


def latest_status(feed: Feed | None, until: datetime) -> pd.DataFrame:
    """Per feed, the last round the proxy served before `until` (the price in effect then) and its status."""
    return _latest_status(*_version(), feed.key if feed else None, until)


@st.cache_data(**CACHE)
def _latest_status(marts: str, version: str, feed_key: str | None, until: datetime) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select chain, proxy_address, feed_pair, symbol, round_id, served_from, price_usd, deviation_pct, "
        f"deviation_bps, abs_deviation_bps, peg_status from {marts}.{HEALTH} where served_from < ?{where} "
        f"qualify row_number() over (partition by chain, proxy_address order by served_from desc, round_id desc) = 1 "
        f"order by symbol, feed_pair",
        (until, *params),
    )
    frame["round_id"] = frame["round_id"].astype(str)
    return _floats(frame, "price_usd", "deviation_pct", "deviation_bps", "abs_deviation_bps")


def latest_updates(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """The newest rounds in the range (at most LATEST_UPDATES_LIMIT), newest first."""
    return _latest_updates(*_version(), feed.key if feed else None, start, end)


@st.cache_data(**CACHE)
def _latest_updates(marts: str, version: str, feed_key: str | None, start: datetime, end: datetime) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select served_from, symbol, feed_pair, price_usd, deviation_pct, deviation_bps, peg_status, round_id, "
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


def price_series(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Per feed and time bucket: closing, low and high price, the most negative and positive
    deviation in bps, the signed worst deviation, and the number of rounds."""
    return _price_series(*_version(), feed.key if feed else None, start, end, price_bucket_seconds(start, end))


@st.cache_data(**CACHE)
def _price_series(
    marts: str, version: str, feed_key: str | None, start: datetime, end: datetime, bucket_seconds: int
) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select symbol, feed_pair, time_slice(served_from, {int(bucket_seconds)}, 'SECOND') as bucket_at, "
        f"max_by(price_usd, served_from) as close_price_usd, min(price_usd) as low_price_usd, "
        f"max(price_usd) as high_price_usd, min(deviation_bps) as min_deviation_bps, "
        f"max(deviation_bps) as max_deviation_bps, count(*) as rounds from {marts}.{HEALTH} "
        f"where served_from >= ? and served_from < ?{where} group by symbol, feed_pair, bucket_at "
        f"order by symbol, bucket_at",
        (start, end, *params),
    )
    frame = _floats(
        frame, "close_price_usd", "low_price_usd", "high_price_usd", "min_deviation_bps", "max_deviation_bps"
    )
    frame["worst_deviation_bps"] = frame["max_deviation_bps"].where(
        frame["max_deviation_bps"].abs() >= frame["min_deviation_bps"].abs(), frame["min_deviation_bps"]
    )
    return frame


# --- z-scores ---------------------------------------------------------------------------------


def zscore_bucket_hours(start: datetime, end: datetime) -> int:
    """The heatmap resolution for a range: the smallest bucket giving at most ~250 cells per feed."""
    return _bucket((end - start).total_seconds() / 3600 / ZSCORE_CELLS_PER_FEED, ZSCORE_BUCKETS_HOURS)


def zscore_series(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Per feed and bucket of hours: the signed most extreme z-score, average price and rolling
    24 h mean and standard deviation."""
    return _zscore_series(*_version(), feed.key if feed else None, start, end, zscore_bucket_hours(start, end))


@st.cache_data(**CACHE)
def _zscore_series(
    marts: str, version: str, feed_key: str | None, start: datetime, end: datetime, bucket_hours: int
) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select symbol, feed_pair, time_slice(hour_at, {int(bucket_hours)}, 'HOUR') as bucket_at, "
        f"min(z_score) as min_z_score, max(z_score) as max_z_score, avg(price_usd) as price_usd, "
        f"avg(rolling_mean_24h) as rolling_mean_24h, avg(rolling_stddev_24h) as rolling_stddev_24h, "
        f"count(z_score) as z_hours, count(*) as hours from {marts}.{ZSCORE} "
        f"where hour_at >= ? and hour_at < ?{where} group by symbol, feed_pair, bucket_at order by symbol, bucket_at",
        (start, end, *params),
    )
    frame = _floats(frame, "min_z_score", "max_z_score", "price_usd", "rolling_mean_24h", "rolling_stddev_24h")
    frame["z_score"] = frame["max_z_score"].where(
        frame["max_z_score"].abs() >= frame["min_z_score"].abs(), frame["min_z_score"]
    )
    frame["bucket_end"] = frame["bucket_at"] + pd.Timedelta(hours=bucket_hours)
    return frame


def zscore_histogram(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours per feed and half-sigma z-score bin (tails folded into the ±6 bins)."""
    return _zscore_histogram(*_version(), feed.key if feed else None, start, end)


@st.cache_data(**CACHE)
def _zscore_histogram(marts: str, version: str, feed_key: str | None, start: datetime, end: datetime) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select symbol, greatest(least(floor(z_score * 2) / 2, 5.5), -6) as z_bin, count(*) as hours "
        f"from {marts}.{ZSCORE} where z_score is not null and hour_at >= ? and hour_at < ?{where} "
        f"group by symbol, z_bin order by symbol, z_bin",
        (start, end, *params),
    )
    frame = _floats(frame, "z_bin")
    frame["z_bin_end"] = frame["z_bin"] + 0.5
    return frame


def zscore_status_counts(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours per feed and z-score status: normal, unusual (1 < |z| <= 2), outlier (|z| > 2), no z-score."""
    return _zscore_status_counts(*_version(), feed.key if feed else None, start, end)


@st.cache_data(**CACHE)
def _zscore_status_counts(
    marts: str, version: str, feed_key: str | None, start: datetime, end: datetime
) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select symbol, case when z_score is null then 'no z-score' when is_outlier then 'outlier' "
        f"when is_unusual then 'unusual' else 'normal' end as z_status, count(*) as hours "
        f"from {marts}.{ZSCORE} where hour_at >= ? and hour_at < ?{where} group by symbol, z_status "
        f"order by symbol, z_status",
        (start, end, *params),
    )
    frame["hours"] = pd.to_numeric(frame["hours"]).astype("int64")
    return frame


def flagged_hours(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Hours with |z| > 1 (unusual, outliers above |z| > 2), most extreme first (at most FLAGGED_HOURS_LIMIT)."""
    return _flagged_hours(*_version(), feed.key if feed else None, start, end)


@st.cache_data(**CACHE)
def _flagged_hours(marts: str, version: str, feed_key: str | None, start: datetime, end: datetime) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select hour_at, symbol, feed_pair, case when is_outlier then 'outlier' else 'unusual' end as flag, "
        f"z_score, price_usd, rolling_mean_24h, rolling_stddev_24h, observations_24h from {marts}.{ZSCORE} "
        f"where is_unusual and hour_at >= ? and hour_at < ?{where} "
        f"order by abs(z_score) desc, hour_at, symbol limit {FLAGGED_HOURS_LIMIT}",
        (start, end, *params),
    )
    return _floats(frame, "z_score", "price_usd", "rolling_mean_24h", "rolling_stddev_24h")


# --- depeg events and daily status ------------------------------------------------------------


def depeg_events(feed: Feed | None, start: datetime, end: datetime) -> pd.DataFrame:
    """Depeg events overlapping the range, worst first."""
    return _depeg_events(*_version(), feed.key if feed else None, start, end)


@st.cache_data(**CACHE)
def _depeg_events(marts: str, version: str, feed_key: str | None, start: datetime, end: datetime) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select depeg_event_id, symbol, feed_pair, started_at, ended_at, is_open, duration_seconds, "
        f"rounds_off_peg, worst_price_usd, worst_deviation_bps, worst_abs_deviation_bps, worst_status "
        f"from {marts}.{EVENTS} where started_at < ? and (ended_at is null or ended_at > ?){where} "
        f"order by worst_abs_deviation_bps desc, started_at",
        (end, start, *params),
    )
    # An open event has no end (the emulator returns NULL timestamps as 1970).
    frame.loc[frame["is_open"].astype(bool), "ended_at"] = pd.NaT
    frame["rounds_off_peg"] = pd.to_numeric(frame["rounds_off_peg"]).astype("int64")
    return _floats(frame, "duration_seconds", "worst_price_usd", "worst_deviation_bps", "worst_abs_deviation_bps")


def daily_status(feed: Feed | None, first_day: date, last_day: date) -> pd.DataFrame:
    """Per feed and UTC day: prices, rounds, time off peg, worst deviation and |z|, day status."""
    return _daily_status(*_version(), feed.key if feed else None, first_day, last_day)


@st.cache_data(**CACHE)
def _daily_status(marts: str, version: str, feed_key: str | None, first_day: date, last_day: date) -> pd.DataFrame:
    where, params = _feed_filter(feed_key)
    frame = _query(
        f"select day, symbol, feed_pair, day_status, open_price_usd, close_price_usd, low_price_usd, high_price_usd, "
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


def _bucket(minimum: float, steps: tuple[int, ...]) -> int:
    return next((step for step in steps if step >= minimum), steps[-1] * math.ceil(minimum / steps[-1]))
