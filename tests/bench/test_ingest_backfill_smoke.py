"""The ingest backfill benchmark still runs, both parts in smoke mode: the simulated history (1 day of
every feed, a naive sample of 1 day) and the recorded mainnet rounds (replayed up to a few days,
the phase switches among them, on a scratch node of its own on port 8547)."""

from __future__ import annotations


def test_simulated_backfill_smoke(run_bench, feeds) -> None:
    run_bench(
        "ingest_backfill.py",
        "--smoke",
        expect=(
            *(rf"^{f.pair} +1 +\d+ +\d+\.\d\d +\d+ +\d+\.\d \| +\d+\.\d +\d+\.\d$" for f in feeds),
            r"^average RPC requests per feed-day: \d+\.\d\d \(goal <= 4\)$",
        ),
        schemas=None,
        services=("anvil-bench-8547",),
        timeout=120,
    )


def test_recorded_backfill_smoke(run_bench) -> None:
    run_bench(
        "ingest_backfill.py",
        "--recorded",
        "--smoke",
        expect=(
            r"^\d+ recorded mainnet rounds up to 2021-09-03 replayed onto a scratch node in \d+\.\d s; 6 days read back$",
            *(rf"^{pair} +6 +\d+\.\d\d +\d+\.\d\d( +\d+){{8}}$" for pair in ("USDC/USD", "USDT/USD")),
            r"^average per feed-day, switch search included: \d+\.\d\d HTTP requests, \d+\.\d\d JSON-RPC calls$",
        ),
        schemas=None,
        services=("anvil-bench-8547",),
        timeout=180,
    )
