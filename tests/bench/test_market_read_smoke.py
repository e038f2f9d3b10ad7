"""The pool-reading benchmark still runs: its smoke mode replays 2 recorded days of the USDC/USDT pool
beside the registry's other pools on a scratch node of its own (port 8557) and prints both readers'
cost per pool-day."""

from __future__ import annotations

ROW = r" +8 +\d+\.\d\d +\d+\.\d\d +\d+\.\d$"


def test_market_read_smoke(run_bench) -> None:
    run_bench(
        "market_read.py",
        "--smoke",
        expect=(
            r"^4 pools, 2 recorded days of USDC/USDT replayed in \d+\.\d s$",
            rf"^batched \(as loaded\){ROW}",
            rf"^one call per request{ROW}",
        ),
        schemas=None,
        services=("anvil-bench-8557",),
        timeout=180,
    )
