"""Benchmark: dashboard page script time on 2 years x 10 feeds of mart rows, cold and warm cache.

Needs the local stack (`make stack-up`). It writes SIMULATED mart rows (not real market data,
not produced by the pipeline: synthetic prices around $1 with a depeg episode, hourly rounds, an
hourly z-score grid) straight into a scratch schema of the Snowflake emulator, then runs every
page with Streamlit's AppTest (router + page, as a browser session would) and prints the script
time: cold (data caches cleared; the connection stays open, as in a running server) and warm (the
same page again). Goals: <= 2 s cold, <= 0.5 s warm. The scratch schema is dropped at the end
unless --keep.

    .venv/bin/python bench/dashboard_pages.py [--days 730] [--feeds 10] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "streamlit_app"
sys.path[:0] = [str(APP_DIR), str(ROOT / "plugins"), str(ROOT)]

import snowflake.connector  # noqa: E402

from devstack.services import emulator  # noqa: E402

SYMBOLS = ("USDC", "USDT", "DAI", "FRAX", "TUSD", "USDP", "PYUSD", "GUSD", "LUSD", "FDUSD")
PAGES = {
    "Peg Deviation": "app_pages/peg_deviation.py",
    "Peg Z-Score": "app_pages/peg_zscore.py",
    "Depeg Events": "app_pages/depeg_events.py",
    "Feed Health": "app_pages/feed_health.py",
}
COLD_GOAL, WARM_GOAL = 2.0, 0.5


def simulated_marts(schema: str, days: int, feeds: int) -> dict[str, int]:
    """Create the five marts in `schema` with SIMULATED rows; returns the row count per table."""
    hours = days * 24
    feed_rows = ", ".join(
        f"({i}, 'SIMULATED-{i}', '0x{i:040x}', '{symbol}/USD', '{symbol}', {3600 if i % 2 == 0 else 86400})"
        for i, symbol in enumerate(SYMBOLS[:feeds])
    )
    # a deterministic "random" number in [0, 1) per feed and hour
    u = "(abs(hash(f.i, g.n)) % 1000003) / 1000003.0"
    # feed 0 depegs to about 0.88 for three days a year before the end (like USDC in March 2023)
    depeg = f"case when f.i = 0 and g.n between {hours - 365 * 24} and {hours - 362 * 24} then -0.12 * sin(3.14159 * (g.n - {hours - 365 * 24}) / 72.0) else 0 end"
    price = f"(1 + ({u} - 0.5) * 0.004 + {depeg})"
    start = f"dateadd('day', -{days}, date_trunc('day', current_timestamp())::timestamp_ntz)"
    statements = [
        f"create schema {schema}",
        f"create table {schema}.SIMULATED_FEEDS (i int, chain varchar, proxy_address varchar, feed_pair varchar, "
        f"symbol varchar, heartbeat_seconds int)",
        f"insert into {schema}.SIMULATED_FEEDS values {feed_rows}",
        f"create table {schema}.STABLECOIN_PEG_HEALTH as "
        f"select chain, proxy_address, feed_pair, symbol, round_id, 1 as phase_id, updated_at, updated_at as served_from, "
        f"price_usd, 1.0 as peg_usd, "
        f"deviation_pct, abs(deviation_pct) as abs_deviation_pct, deviation_pct * 100 as deviation_bps, "
        f"abs(deviation_pct) * 100 as abs_deviation_bps, "
        f"case when abs(deviation_pct) * 100 >= 100 then 'critical' when abs(deviation_pct) * 100 >= 50 then 'warning' "
        f"else 'healthy' end as peg_status, 3600 as seconds_since_previous_update, false as is_heartbeat_exceeded "
        f"from (select f.chain, f.proxy_address, f.feed_pair, f.symbol, 18446744073709551616 + g.n as round_id, "
        f"dateadd('second', g.n * 3600 + (abs(hash(g.n, f.i)) % 3000), {start}) as updated_at, "
        f"{price} as price_usd, ({price} - 1) * 100 as deviation_pct "
        f"from {schema}.SIMULATED_FEEDS as f cross join (select seq4() as n from table(generator(rowcount => {hours}))) as g)",
        f"create table {schema}.STABLECOIN_PEG_ZSCORE as "
        f"select f.chain, f.proxy_address, f.feed_pair, f.symbol, dateadd('hour', g.n, {start}) as hour_at, "
        f"dateadd('hour', g.n, {start})::date as day, {price} as price_usd, false as is_before_first_round, "
        f"1 + ({u} - 0.5) * 0.001 as rolling_mean_24h, 0.0003 + {u} * 0.0002 as rolling_stddev_24h, "
        f"24 as observations_24h, false as is_flat_window, ({u} - 0.5) * 6 as z_score, "
        f"abs(({u} - 0.5) * 6) > 1 as is_unusual, abs(({u} - 0.5) * 6) > 2 as is_outlier "
        f"from {schema}.SIMULATED_FEEDS as f cross join (select seq4() as n from table(generator(rowcount => {hours}))) as g",
        f"create table {schema}.STABLECOIN_PEG_DAILY as "
        f"select h.chain, h.proxy_address, h.feed_pair, h.symbol, h.updated_at::date as day, "
        f"min_by(h.price_usd, h.updated_at) as open_price_usd, max_by(h.price_usd, h.updated_at) as close_price_usd, "
        f"min(h.price_usd) as low_price_usd, max(h.price_usd) as high_price_usd, count(*) as rounds, "
        f"sum(case when h.abs_deviation_bps >= 50 then 3600 else 0 end) as seconds_off_peg, "
        f"max(h.abs_deviation_bps) as worst_abs_deviation_bps, 2.9 as worst_abs_z_score, "
        f"case when max(h.abs_deviation_bps) >= 100 then 'critical' when max(h.abs_deviation_bps) >= 50 then 'warning' "
        f"else 'healthy' end as day_status from {schema}.STABLECOIN_PEG_HEALTH as h group by 1, 2, 3, 4, 5",
        f"create table {schema}.STABLECOIN_DEPEG_EVENTS as "
        f"select chain || ':' || proxy_address || ':' || to_char(min(updated_at), 'YYYY-MM-DD HH24:MI:SS') "
        f"as depeg_event_id, chain, proxy_address, feed_pair, symbol, min(updated_at) as started_at, "
        f"dateadd('hour', 1, max(updated_at)) as ended_at, false as is_open, "
        f"datediff('second', min(updated_at), dateadd('hour', 1, max(updated_at))) as duration_seconds, "
        f"count(*) as rounds_off_peg, min(price_usd) as worst_price_usd, min(deviation_bps) as worst_deviation_bps, "
        f"max(abs_deviation_bps) as worst_abs_deviation_bps, "
        f"case when max(abs_deviation_bps) >= 100 then 'critical' else 'warning' end as worst_status "
        f"from {schema}.STABLECOIN_PEG_HEALTH where abs_deviation_bps >= 50 group by chain, proxy_address, feed_pair, "
        f"symbol, updated_at::date",
        f"create table {schema}.CHAINLINK_FEED_STALENESS as "
        f"select f.chain, f.proxy_address, f.feed_pair, f.symbol, f.heartbeat_seconds, "
        f"date_trunc('day', current_timestamp())::timestamp_ntz as data_as_of, max(h.updated_at) as last_updated_at, "
        f"datediff('second', max(h.updated_at), date_trunc('day', current_timestamp())::timestamp_ntz) "
        f"as seconds_since_last_update, false as is_stale, count(*) as rounds_loaded, 3600 + 3000 as max_gap_seconds, "
        f"0 as heartbeat_misses, cast(null as timestamp_ntz) as last_heartbeat_miss_at "
        f"from {schema}.SIMULATED_FEEDS as f join {schema}.STABLECOIN_PEG_HEALTH as h on f.proxy_address = h.proxy_address "
        f"group by 1, 2, 3, 4, 5",
    ]
    counts = {}
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
        for table in ("STABLECOIN_PEG_HEALTH", "STABLECOIN_PEG_ZSCORE", "STABLECOIN_DEPEG_EVENTS",
                      "STABLECOIN_PEG_DAILY", "CHAINLINK_FEED_STALENESS"):  # fmt: skip
            cur.execute(f"select count(*) from {schema}.{table}")
            counts[table] = cur.fetchone()[0]
    return counts


def drop(schema: str) -> None:
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"drop schema if exists {schema} cascade")


def time_pages(schema: str, repeat: int, query_params: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Median cold and warm script time per page (seconds)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    params = emulator.connection_params()
    at = AppTest.from_file(str(APP_DIR / "dashboard.py"), default_timeout=300)
    at.secrets["connections"] = {
        "snowflake": {k: params[k] for k in ("account", "user", "password", "host", "port", "protocol", "database")}
    }
    at.secrets["peg_monitor"] = {"marts_schema": schema}
    at.query_params.update(query_params)
    at.run()  # opens the connection (kept, like a running server's) and registers the pages
    results = {}
    for title, path in PAGES.items():
        cold, warm = [], []
        for _ in range(repeat):
            st.cache_data.clear()
            at.switch_page(path)
            started = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - started)
            if at.exception or at.error or at.title[0].value != title:
                raise SystemExit(f"{title} did not render: {at.exception or [e.value for e in at.error]}")
        results[title] = (statistics.median(cold), statistics.median(warm))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--feeds", type=int, default=10, choices=range(1, len(SYMBOLS) + 1))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

    schema = f"BENCH_SIMULATED_MARTS_{uuid.uuid4().hex[:6].upper()}"
    started = time.perf_counter()
    try:
        counts = simulated_marts(schema, args.days, args.feeds)
        print(f"SIMULATED marts in PEG_MONITOR.{schema} ({args.days} days x {args.feeds} feeds, "
              f"{time.perf_counter() - started:.1f} s to write):")  # fmt: skip
        for table, rows in counts.items():
            print(f"  {table:<26} {rows:>9,} rows")
        end = time.gmtime(time.time() - 86400)
        last = f"{end.tm_year:04d}-{end.tm_mon:02d}-{end.tm_mday:02d}"
        first_time = time.gmtime(time.time() - args.days * 86400)
        first = f"{first_time.tm_year:04d}-{first_time.tm_mon:02d}-{first_time.tm_mday:02d}"
        scenarios = {
            "default range (last 30 days), all feeds": {},
            f"whole range ({args.days} days), all feeds": {"start": first, "end": last},
        }
        worst_cold = worst_warm = 0.0
        for name, params in scenarios.items():
            print(f"\n{name}: median of {args.repeat}, seconds")
            print(f"  {'page':<16} {'cold':>6} {'warm':>6}")
            for title, (cold, warm) in time_pages(schema, args.repeat, params).items():
                print(f"  {title:<16} {cold:>6.2f} {warm:>6.2f}")
                worst_cold, worst_warm = max(worst_cold, cold), max(worst_warm, warm)
        print(
            f"\nworst cold {worst_cold:.2f} s (goal <= {COLD_GOAL}), worst warm {worst_warm:.2f} s (goal <= {WARM_GOAL})"
        )
    finally:
        if args.keep:
            print(f"kept PEG_MONITOR.{schema}")
        else:
            drop(schema)


if __name__ == "__main__":
    main()
