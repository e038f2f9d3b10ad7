"""Benchmark: writing raw rows to the warehouse, the MERGE as loaded beside a VALUES-list MERGE.

The loaders MERGE their rows (`warehouse.spec.merge`) as one bound JSON array per statement, each
value cast from its exact text. The baseline is the MERGE they ran before: the same statement over
a `values (...), (...)` list of one row per VALUES tuple. Both write the same synthetic hourly pool
readings (MARKET_POOL_READINGS, the widest raw table) into a scratch schema of their own on the
stack's Snowflake emulator, in ROWS_PER_STATEMENT rows per statement; the bench prints the wall
time, rows per second and statements of each, their ratio, and checks that both tables hold the
same rows. On the emulator, translating a statement costs in proportion to its syntax tree, so the
VALUES list paid per row (about 10 ms); on Snowflake a smaller statement also compiles faster.

Run with the stack up (`make stack-up`): `.venv/bin/python bench/warehouse_merge.py [--rows 2880]`
(a month of 4 pools, about a minute); `--smoke` writes 600 rows.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins"), str(Path(__file__).resolve().parents[1])]

import snowflake.connector  # noqa: E402

from devstack.services import emulator  # noqa: E402
from warehouse.spec import ROWS_PER_STATEMENT, TableSpec, chunks, ensure_table, merge  # noqa: E402
from warehouse.tables import MARKET_POOL_READINGS  # noqa: E402

POOLS = ("0x3416cf6c708da44db2624d63ea0aaef7113527c6", "0x5777d92f208679db4b9778590fa3cab3ac9e2168")


def readings(rows: int) -> list[tuple]:
    """`rows` synthetic hourly readings of two pools, in the table's merged columns."""
    start = datetime(2022, 5, 1)
    out = []
    for i in range(rows):
        tick = (i * 7919) % 41 - 20
        out.append(
            MARKET_POOL_READINGS.row(
                chain="ethereum", pool_address=POOLS[i % 2], read_at=f"{start + timedelta(hours=i // 2):%Y-%m-%d %H:%M:%S}",
                block_number=14_690_000 + 300 * (i // 2), sqrt_price_x96=str(79228162514264337593543950336 + i * 10**20),
                tick=tick, liquidity=str(10**18 + i), price=f"1.0{i % 10:01d}{i:016d}", twap_tick=None if i % 5 else tick,
                quote_tokens=1_000_000, sell_token0_out=str(999_900_000_000 - i), sell_token1_out=None,
                loaded_at="2026-12-06 00:00:00", airflow_run_id=f"bench_{i % 3}",
            )
        )  # fmt: skip
    return out


def values_list_merge(cur, spec: TableSpec, schema: str, rows: list[tuple]) -> int:
    """The baseline: the same MERGE over a VALUES list, one tuple of placeholders per row."""
    columns = spec.merged_columns
    names = [c.name for c in columns]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    source = ", ".join(f"column{i + 1}::{c.type} as {c.name}" for i, c in enumerate(columns))
    changed = 0
    for chunk in chunks(rows):
        sql = (
            f"merge into {spec.qualified(schema)} as t using "
            f"(select {source} from values {', '.join([placeholders] * len(chunk))}) as s "
            f"on {' and '.join(f't.{k} = s.{k}' for k in spec.key)} "
            f"when not matched then insert ({', '.join(names)}) values ({', '.join('s.' + n for n in names)})"
        )
        cur.execute(sql, [value for row in chunk for value in row])
        changed += max(cur.rowcount or 0, 0)
    return changed


def timed(cur, schema: str, rows: list[tuple], write: Callable) -> tuple[float, list[tuple]]:
    ensure_table(cur, MARKET_POOL_READINGS, schema)
    started = time.perf_counter()
    written = write(cur, MARKET_POOL_READINGS, schema, rows)
    elapsed = time.perf_counter() - started
    if written != len(rows):
        raise SystemExit(f"{write.__name__} wrote {written} of {len(rows)} rows")
    cur.execute(f"select * from {MARKET_POOL_READINGS.qualified(schema)} order by pool_address, read_at")
    return elapsed, cur.fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2880)
    parser.add_argument("--smoke", action="store_true", help="600 rows: that it still runs")
    args = parser.parse_args()
    rows = readings(600 if args.smoke else args.rows)
    statements = -(-len(rows) // ROWS_PER_STATEMENT)
    tag = uuid.uuid4().hex[:8].upper()
    schemas = {"JSON array (as loaded)": f"BENCH_MERGE_{tag}_J", "VALUES list": f"BENCH_MERGE_{tag}_V"}
    figures = {}
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        try:
            for (name, schema), write in zip(schemas.items(), (merge, values_list_merge), strict=True):
                cur.execute(f"create schema {schema}")
                figures[name] = timed(cur, schema, rows, write)
        finally:
            for schema in schemas.values():
                cur.execute(f"drop schema if exists {schema} cascade")
    (loaded, loaded_rows), (baseline, baseline_rows) = figures.values()
    if loaded_rows != baseline_rows:
        raise SystemExit("the two MERGEs stored different rows")
    print(f"{len(rows)} pool readings into MARKET_POOL_READINGS on the emulator, {ROWS_PER_STATEMENT} per statement")
    print(f"{'MERGE':<24}{'statements':>11}{'seconds':>9}{'rows/s':>9}")
    for name, (seconds, _) in figures.items():
        print(f"{name:<24}{statements:>11}{seconds:>9.2f}{len(rows) / seconds:>9.0f}")
    print(f"VALUES list / JSON array: {baseline / loaded:.1f}x the time; both stored the same {len(rows)} rows")


if __name__ == "__main__":
    main()
