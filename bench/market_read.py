"""Benchmark: reading pools in RPC work, on recorded mainnet data.

May 2022 of the Uniswap v3 USDC/USDT 0.01 % pool (../shared/data/dex-recorded, the USDT wobble of
2022-05-12 among it) is replayed onto a scratch node at its mainnet address, beside the registry's
other Ethereum pools (DAI/USDC, USDC/WETH, WETH/USDT, set once); then every UTC day of all four is
read as the daily load reads them (`market_pools.reader`). Prints HTTP requests and JSON-RPC calls
per pool-day (goal: <= 4 requests, as the rounds' reader does), beside the same reader with
batching off (one call per HTTP request), the baseline a plain web3 loop would be.

Run: `.venv/bin/python bench/market_read.py` (about a minute); `--smoke` reads 2 days.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins"), str(Path(__file__).resolve().parents[1])]

from devstack.cluster.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env())

from chainlink_feeds.hooks import ChainlinkHook  # noqa: E402
from chainlink_feeds.registry import load_market  # noqa: E402
from devstack.chain.node import start_node, stop_node  # noqa: E402
from devstack.chain.rpc import Rpc  # noqa: E402
from devstack.chain.uniswap import create_pool, deploy_uniswap, pool_state, set_pool_state  # noqa: E402
from devstack.simulation import recorded_pool  # noqa: E402
from market_pools.reader import PoolReader  # noqa: E402

PORT = int(os.environ.get("PEG_BENCH_MARKET_ANVIL_PORT", "8557"))
FIRST, DAY = datetime(2022, 5, 1, tzinfo=UTC), timedelta(days=1)
# The other pools' prices, in whole token1 per token0 (a plausible May 2022), set once before the month.
OTHERS = {"DAI/USDC": 1, "USDC/WETH": 1 / 2_800, "WETH/USDT": 2_800}


def build_chain(rpc: Rpc, days: int) -> None:
    """Every registry pool on the node: the others first (set once), then the recorded month."""
    deploy_uniswap(rpc)
    for pool in load_market().pools_on("ethereum"):
        name = f"{pool.token0.symbol}/{pool.token1.symbol}"
        if name in OTHERS:
            address = create_pool(rpc, pool.token0.address, pool.token1.address, pool.fee, str(OTHERS[name]))
            set_pool_state(rpc, address, pool_state(rpc, address).tick, 10**18)
    recorded_pool.replay(rpc, {}, start=FIRST - timedelta(hours=1), end=FIRST + DAY * days)


def read_days(rpc: Rpc, days: int, batch_size: int) -> tuple[int, int, float]:
    """(HTTP requests, JSON-RPC calls, seconds) of reading every pool's every day."""
    conn_id = f"chainlink_bench_market_{batch_size}"
    extra = {"batch_size": batch_size, "use_multicall": False}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {"conn_type": "chainlink", "host": rpc.url, "extra": extra}
    )
    hook = ChainlinkHook(chainlink_conn_id=conn_id)
    pools = load_market().pools_on("ethereum")
    reader = PoolReader(hook, pools, quote_symbols=frozenset({"USDC", "USDT", "DAI"}))
    started = time.perf_counter()
    for i in range(days):
        reader.read(FIRST + DAY * i, FIRST + DAY * (i + 1))
    return hook.requests_made, hook.calls_made, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 days: does it still run?")
    args = parser.parse_args()
    days = 2 if args.smoke else 31
    name = f"anvil-bench-{PORT}"
    stop_node(name)
    start_node(name=name, port=PORT)
    try:
        rpc = Rpc(f"http://127.0.0.1:{PORT}")
        started = time.perf_counter()
        build_chain(rpc, days)
        pools = len(load_market().pools_on("ethereum"))
        print(f"{pools} pools, {days} recorded days of USDC/USDT replayed in {time.perf_counter() - started:.1f} s")
        print(f"{'reader':22} {'pool-days':>9} {'requests/pool-day':>17} {'calls/pool-day':>14} {'seconds':>7}")
        for label, batch in (("batched (as loaded)", 200), ("one call per request", 1)):
            requests, calls, seconds = read_days(rpc, days, batch)
            n = pools * days
            print(f"{label:22} {n:9d} {requests / n:17.2f} {calls / n:14.2f} {seconds:7.1f}")
    finally:
        stop_node(name)


if __name__ == "__main__":
    main()
