"""Benchmark: replaying the stack's SIMULATED history of the Ethereum node onto a fresh node: the
tests' whole history as shipped, the demo's short one, and every feed over the whole history, side
by side in one run.

As shipped (`shipped`), only the scripted feeds (USDC, USDT, DAI) span the whole 200 days; every
other registry feed launched later (devstack/simulation/history.py: 32 days before the end, 10 with
an hourly heartbeat). `demo` is the history a fresh `make demo` replays: SHORTEST_DAYS long, the same
later launches. `whole` is the alternative of every feed over the whole history. Each replay runs on
a scratch anvil of its own (port 8610, every state kept, as the stack's), from genesis, the same
history end. Prints rounds, blocks and the replay's wall time of each, then each one's ratio to the
first.

Run by hand with nothing else busy (a replay takes minutes, so it has no smoke in the suite):
`.venv/bin/python bench/history_replay.py [--shapes shipped,demo,whole] [--end 2026-12-07]`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from chainlink_feeds.registry import load_registry  # noqa: E402
from devstack.chain import stack_history  # noqa: E402
from devstack.chain.node import node_argv  # noqa: E402
from devstack.chain.rpc import Rpc  # noqa: E402
from devstack.simulation import history  # noqa: E402

PORT = 8610
SHAPES = ("shipped", "demo", "whole")


def replay(shape: str, end: datetime) -> tuple[int, int, float]:
    """(rounds, blocks, seconds) of one replay of `shape` on a scratch node."""
    scripted = history.FULL_HISTORY_PAIRS
    feeds = load_registry()
    if shape == "whole":  # every feed spans the history, as the scripted ones do
        history.FULL_HISTORY_PAIRS = frozenset(f.pair for f in feeds if not f.peg_reference)
    states = Path(tempfile.mkdtemp(prefix="bench-replay-states-"))
    node = subprocess.Popen(
        node_argv(PORT, 1, None, False, False, states), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        rpc = Rpc(f"http://127.0.0.1:{PORT}")
        for _ in range(150):
            try:
                rpc.call("eth_chainId")
                break
            except Exception:  # noqa: BLE001 (not listening yet)
                time.sleep(0.2)
        started = time.monotonic()
        days = history.SHORTEST_DAYS if shape == "demo" else history.HISTORY_DAYS
        written = stack_history.replay(feeds, history.Scenario(end, days), rpc)
        seconds = time.monotonic() - started
        return sum(written.values()), int(rpc.call("eth_blockNumber"), 16), seconds
    finally:
        history.FULL_HISTORY_PAIRS = scripted
        node.terminate()
        node.wait()
        shutil.rmtree(states, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="shipped,demo", help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--end", default=None, help="the history's end (a UTC date; default today)")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {', '.join(unknown)}: choose from {', '.join(SHAPES)}")
    day = datetime.fromisoformat(args.end).date() if args.end else datetime.now(UTC).date()
    end = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ethereum = [f for f in load_registry() if f.chain == "ethereum"]
    print(f"{history.LABEL}: the Ethereum node's {len(ethereum)} feeds, history ending {end.date()}")
    print(f"{'shape':<10} {'rounds':>7} {'blocks':>7} {'replay':>9}")
    figures = {}
    for shape in shapes:
        rounds, blocks, seconds = replay(shape, end)
        figures[shape] = seconds
        print(f"{shape:<10} {rounds:>7} {blocks:>7} {seconds:>8.1f}s", flush=True)
    (first, baseline), *others = figures.items()
    for shape, seconds in others:
        print(f"{shape} / {first}: {seconds / baseline:.2f}x the replay time")


if __name__ == "__main__":
    main()
