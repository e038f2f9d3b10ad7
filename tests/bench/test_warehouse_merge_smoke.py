"""The warehouse MERGE benchmark still runs: its smoke mode writes 600 pool readings both ways on the
stack's emulator, prints both, and the two tables hold the same rows."""

from __future__ import annotations

ROW = r" +2 +\d+\.\d\d +\d+$"


def test_warehouse_merge_smoke(run_bench) -> None:
    run_bench(
        "warehouse_merge.py",
        "--smoke",
        expect=(
            r"^600 pool readings into MARKET_POOL_READINGS on the emulator, 500 per statement$",
            rf"^JSON array \(as loaded\){ROW}",
            rf"^VALUES list{ROW}",
            r"^VALUES list / JSON array: \d+\.\dx the time; both stored the same 600 rows$",
        ),
        schemas="BENCH_MERGE_",
        timeout=180,
    )
