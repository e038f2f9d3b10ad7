"""Benchmark: dashboard page script time on 2 years x 10 feeds, cold and warm cache.

Needs the local stack (`make stack-up`). It writes SIMULATED raw rounds (not real market data:
synthetic prices around $1 with rare spikes and, on the first feed, a three-day depeg a year
before the end; hourly rounds, one load window per feed and day) into the pipeline's own raw
tables (their DDL from the store) in a scratch schema of the Snowflake emulator, builds the marts
from them with the project's dbt models (`dbt run`, as the daily DAG does), then runs every page
with Streamlit's AppTest (router + page, as a browser session would) and prints the script time:
cold (query and chart caches cleared; the connection stays open, as in a running server) beside warm (the
same page again, served from the cache). Goals: <= 2 s cold, <= 0.5 s warm. The scratch schemas
are dropped at the end unless --keep.

    .venv/bin/python bench/dashboard_pages.py [--days 730] [--feeds 10] [--repeat 3] [--keep | --reuse SCHEMA]
    .venv/bin/python bench/dashboard_pages.py --smoke    # 2 days x 1 feed, once: does it still run?
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "streamlit_app"
DBT_PROJECT_DIR = ROOT / "include" / "dbt"
sys.path[:0] = [str(APP_DIR), str(ROOT / "plugins"), str(ROOT)]

import snowflake.connector  # noqa: E402

from chainlink_feeds.store import RoundStore  # noqa: E402
from devstack.services import emulator  # noqa: E402
from warehouse.tables import CHAINLINK_FEEDS  # noqa: E402

SYMBOLS = ("USDC", "USDT", "DAI", "FRAX", "TUSD", "USDP", "PYUSD", "GUSD", "LUSD", "FDUSD")
PAGES = {
    "Peg Deviation": "app_pages/peg_deviation.py",
    "Peg Z-Score": "app_pages/peg_zscore.py",
    "Depeg Events": "app_pages/depeg_events.py",
    "Market vs Oracle": "app_pages/market_vs_oracle.py",  # empty here: the simulated raw has no pools yet
    "Feed Health": "app_pages/feed_health.py",
}
COLD_GOAL, WARM_GOAL = 2.0, 0.5
DECIMALS = 8
RUN_ID = "bench_dashboard_pages"


def _feed_rows(feeds: int) -> str:
    """The feeds' registry rows: alternating heartbeats, and two sets of thresholds (as the registry allows)."""
    rows = []
    for i, symbol in enumerate(SYMBOLS[:feeds]):
        heartbeat = 86400 if i % 2 == 0 else 3600
        warning, critical = (30, 80) if i % 3 == 2 else (50, 100)
        rows.append(
            f"('ethereum', 1, '0x{i + 1:040x}', '{symbol}/USD', '{symbol}', '{symbol} / USD', {DECIMALS}, {heartbeat}, "
            f"900, {warning}, {critical}, 10, 25, 90, 1000, 15, 0.25, 1.0, null, current_timestamp(), '{RUN_ID}')"
        )
    return ", ".join(rows)


def simulated_raw(schema: str, days: int, feeds: int, end: date) -> dict[str, int]:
    """The pipeline's raw tables in `schema`, filled with SIMULATED rows; returns the row count per table."""
    hours = days * 24
    start = f"dateadd('day', -{days}, '{end.isoformat()}'::timestamp_ntz)"
    numbers = f"(select seq4() as n from table(generator(rowcount => {hours}))) as g"
    # a deterministic "random" number in [0, 1) per feed and hour, and another for rare spikes
    u, v = "(abs(hash(f.i, g.n)) % 1000003) / 1000003.0", "(abs(hash(g.n, f.i, 7)) % 1000003) / 1000003.0"
    depeg = (
        f"case when f.i = 0 and g.n between {hours - 365 * 24} and {hours - 362 * 24} "
        f"then -0.12 * sin(3.14159 * (g.n - {hours - 365 * 24}) / 72.0) else 0 end"
    )
    spike = f"case when {v} < 0.002 then sign({v} - 0.001) * 0.007 else 0 end"
    feed_table = (
        f"(select row_number() over (order by t.proxy_address) - 1 as i, t.* from {schema}.CHAINLINK_FEEDS as t) as f"
    )
    statements = [
        f"insert into {schema}.CHAINLINK_FEEDS ({', '.join(CHAINLINK_FEEDS.column_names)}) values {_feed_rows(feeds)}",
        f"insert into {schema}.CHAINLINK_PHASES select chain, proxy_address, feed_pair, 1, '0x{'ab' * 20}', null, "
        f"dateadd('day', -30, {start}), 'registry', current_timestamp(), '{RUN_ID}' from {schema}.CHAINLINK_FEEDS",
        f"insert into {schema}.CHAINLINK_LOAD_WINDOWS select f.chain, f.proxy_address, f.feed_pair, "
        f"dateadd('day', g.n, {start}), dateadd('day', g.n + 1, {start}), null, 24, 0, 0, current_timestamp(), "
        f"'{RUN_ID}' from {feed_table} cross join (select seq4() as n from table(generator(rowcount => {days}))) as g",
        f"insert into {schema}.CHAINLINK_ROUNDS select chain, chain_id, proxy_address, feed_pair, "
        f"18446744073709551616 + n + 1, 1, n + 1, answer, {DECIMALS}, answer / 1e{DECIMALS}, updated_at, updated_at, "
        f"updated_at, 18446744073709551616 + n + 1, seconds_since_previous, "
        f"seconds_since_previous > heartbeat_seconds + heartbeat_grace_seconds, 0, current_timestamp(), '{RUN_ID}' "
        f"from (select *, datediff('second', lag(updated_at) over (partition by proxy_address order by n), updated_at) "
        f"as seconds_since_previous from (select f.*, g.n, "
        f"dateadd('second', g.n * 3600 + abs(hash(g.n, f.i)) % 3000, {start}) as updated_at, "
        f"cast(round((1 + ({u} - 0.5) * 0.004 + {spike} + {depeg}) * 1e{DECIMALS}) as number(37, 0)) as answer "
        f"from {feed_table} cross join {numbers}))",
    ]
    counts = {}
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"create schema {schema}")
        RoundStore(conn, schema).ensure_tables()
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            for table in ("CHAINLINK_FEEDS", "CHAINLINK_PHASES", "CHAINLINK_LOAD_WINDOWS", "CHAINLINK_ROUNDS"):
                cur.execute(f"select count(*) from {schema}.{table}")
                counts[table] = cur.fetchone()[0]
    return counts


def build_marts(raw_schema: str, work_dir: Path) -> str:
    """`dbt run` of the project's models on `raw_schema`; returns the marts schema."""
    dbt = Path(sys.executable).with_name("dbt")
    argv = [
        str(dbt), "run", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
        "--vars", json.dumps({"raw_schema": raw_schema}),
    ]  # fmt: skip
    env = os.environ | {"PEG_DBT_SCHEMA": raw_schema, "PEG_DBT_TARGET": "local"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=DBT_PROJECT_DIR, check=False)
    if result.returncode != 0:
        raise SystemExit(f"dbt run failed:\n{result.stdout[-4000:]}")
    return f"{raw_schema}_MARTS"


def mart_counts(marts: str) -> dict[str, int]:
    tables = ("STABLECOIN_PEG_HEALTH", "STABLECOIN_PEG_ZSCORE", "STABLECOIN_DEPEG_EVENTS", "STABLECOIN_PEG_DAILY",
              "CHAINLINK_FEED_STALENESS")  # fmt: skip
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        counts = {}
        for table in tables:
            cur.execute(f"select count(*) from {marts}.{table}")
            counts[table] = cur.fetchone()[0]
    return counts


def drop(*schemas: str) -> None:
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        for schema in schemas:
            conn.cursor().execute(f"drop schema if exists {schema} cascade")


def time_pages(marts: str, repeat: int, query_params: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Median cold and warm script time per page (seconds)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    params = emulator.connection_params()
    at = AppTest.from_file(str(APP_DIR / "dashboard.py"), default_timeout=300)
    at.secrets["connections"] = {
        "snowflake": {k: params[k] for k in ("account", "user", "password", "host", "port", "protocol", "database")}
    }
    at.secrets["peg_monitor"] = {"marts_schema": marts}
    at.query_params.update(query_params)
    at.run()  # opens the connection (kept, like a running server's) and registers the pages
    from peg_dashboard import charts  # the app's own modules, as AppTest imported them

    results = {}
    for title, path in PAGES.items():
        cold, warm = [], []
        for _ in range(repeat):
            st.cache_data.clear()  # the query results, and the charts built from them
            charts.price_chart.clear()
            charts.deviation_chart.clear()
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


def report(scenarios: dict[str, dict[str, str]], marts: str, repeat: int) -> tuple[float, float]:
    """Time every page in every scenario and print cold beside warm; returns the worst of each."""
    worst_cold = worst_warm = 0.0
    for name, params in scenarios.items():
        print(f"\n{name}: median of {repeat}, seconds")
        print(f"  {'page':<16} {'cold':>6} {'warm':>6}")
        for title, (cold, warm) in time_pages(marts, repeat, params).items():
            print(f"  {title:<16} {cold:>6.2f} {warm:>6.2f}")
            worst_cold, worst_warm = max(worst_cold, cold), max(worst_warm, warm)
    return worst_cold, worst_warm


def prepare(raw: str, days: int, feeds: int, end: date) -> None:
    """SIMULATED raw rounds in `raw`, and the marts dbt builds from them in `<raw>_MARTS`."""
    started = time.perf_counter()
    counts = simulated_raw(raw, days, feeds, end)
    print(f"SIMULATED raw rounds in PEG_MONITOR.{raw} ({days} days x {feeds} feeds, "
          f"{time.perf_counter() - started:.1f} s to write):")  # fmt: skip
    for table, rows in counts.items():
        print(f"  {table:<26} {rows:>9,} rows")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as work_dir:
        marts = build_marts(raw, Path(work_dir))
    print(f"marts built by dbt in PEG_MONITOR.{marts} ({time.perf_counter() - started:.1f} s):")
    for table, rows in mart_counts(marts).items():
        print(f"  {table:<26} {rows:>9,} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--feeds", type=int, default=10, choices=range(1, len(SYMBOLS) + 1))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="the smallest run: 2 days x 1 feed, once")
    parser.add_argument("--keep", action="store_true", help="keep the scratch schemas")
    parser.add_argument("--reuse", metavar="SCHEMA", help="time the pages on the schemas a --keep run kept")
    args = parser.parse_args()
    if args.smoke:
        args.days, args.feeds, args.repeat = 2, 1, 1
    warnings.filterwarnings("ignore")
    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

    raw = args.reuse or f"BENCHDASH_{uuid.uuid4().hex[:6].upper()}"
    end = datetime.now(UTC).date()
    try:
        if not args.reuse:
            prepare(raw, args.days, args.feeds, end)
        last, first = end - timedelta(days=1), end - timedelta(days=args.days)
        scenarios = {
            "default range (last 30 days), all feeds": {},
            f"whole range ({args.days} days), all feeds": {"start": first.isoformat(), "end": last.isoformat()},
        }
        worst_cold, worst_warm = report(scenarios, f"{raw}_MARTS", args.repeat)
        print(
            f"\nworst cold {worst_cold:.2f} s (goal <= {COLD_GOAL}), worst warm {worst_warm:.2f} s (goal <= {WARM_GOAL})"
        )
    finally:
        if args.keep or args.reuse:
            print(f"kept PEG_MONITOR.{raw}, {raw}_STAGING and {raw}_MARTS")
        else:
            drop(raw, f"{raw}_STAGING", f"{raw}_MARTS")


if __name__ == "__main__":
    main()
