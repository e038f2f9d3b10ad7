"""An L2 pipeline on the emulator for the marts' and the dashboard's tests: an Arbitrum USDC feed and
an Ethereum one, hourly, beside Arbitrum's scripted sequencer status changes, written through the
ingest's own store (RoundStore) and built by the project's dbt. The outages are test inputs, not
chain data."""

from __future__ import annotations

import dataclasses
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import snowflake.connector

from chainlink_feeds.registry import load_market
from chainlink_feeds.rounds import AcceptedRound, Round, proxy_round_id
from chainlink_feeds.sequencer import SequencerRead, SequencerRound
from chainlink_feeds.store import RoundStore
from devstack.services import emulator
from tests.plugins.chainlink_feeds.test_registry_chains import CHAINS
from tests.plugins.chainlink_feeds.test_registry_market import write
from tests.support.pipeline import dbt_build

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)
GRACE = timedelta(seconds=1800)  # CHAINS' arbitrum grace_period_seconds
# (phase, round, is_down, changed at): down 10-12 h, back, down again inside the grace period, back
# at 13 h; phase 2 opens repeating "up" (no change), and the sequencer goes down again at 19 h.
CHANGES = [
    (1, 1, False, T0),
    (1, 2, True, T0 + 10 * H),
    (1, 3, False, T0 + 12 * H),
    (1, 4, True, T0 + 12 * H + 20 * M),
    (1, 5, False, T0 + 13 * H),
    (2, 1, False, T0 + 15 * H),
    (2, 2, True, T0 + 19 * H),
]
EXPECTED_INTERVALS = [
    ("up", T0, T0 + 10 * H),
    ("down", T0 + 10 * H, T0 + 12 * H),
    ("grace", T0 + 12 * H, T0 + 12 * H + 20 * M),  # cut short: down again
    ("down", T0 + 12 * H + 20 * M, T0 + 13 * H),
    ("grace", T0 + 13 * H, T0 + 13 * H + GRACE),
    ("up", T0 + 13 * H + GRACE, T0 + 19 * H),
    ("down", T0 + 19 * H, None),
]
WINDOW = (T0 - 2 * H, T0 + 20 * H)
OLD_UPTIME_FEED = "0x" + "5e" * 20
FEED_ROUNDS = [T0 - H + 5 * M, *(T0 + k * H + 5 * M for k in range(20))]  # hourly, 5 past the hour


def expected_status(served: datetime) -> str:
    for status, start, end in EXPECTED_INTERVALS:
        if start <= served and (end is None or served < end):
            return status
    return "unknown"  # before the uptime feed's first loaded round


def rounds(times: list[datetime], price: int) -> list[AcceptedRound]:
    return [
        AcceptedRound(Round(proxy_round_id(1, n), price, int(t.timestamp()), int(t.timestamp()), proxy_round_id(1, n)), int(t.timestamp()), None, False)
        for n, t in enumerate(times, start=1)
    ]  # fmt: skip


def build_l2_marts(raw: str, work: Path) -> str:
    """Load the scenario into the (existing) schema `raw` and build it; the target schema prefix."""
    market = load_market(write(work, CHAINS))
    ethereum, arbitrum = market.feeds
    with closing(snowflake.connector.connect(**emulator.connection_params())) as conn:
        store = RoundStore(conn, raw)
        store.ensure_tables()
        for feed, price in ((arbitrum, 99_990_000), (ethereum, 100_010_000)):
            store.load(feed, WINDOW, rounds(FEED_ROUNDS, price), [], None, {}, 100, "test_sequencer")
        # an uptime feed the registry named before: its rounds stay stored, and count no more
        old = dataclasses.replace(market.sequencer("arbitrum"), sequencer_uptime_feed=OLD_UPTIME_FEED)
        outage = [SequencerRound(proxy_round_id(1, 2), True, int((T0 + 5 * H).timestamp()))]
        store.load_sequencer(old, SequencerRead(100, outage, WINDOW[1]), "test_sequencer")
        changes = [SequencerRound(proxy_round_id(p, n), down, int(t.timestamp())) for p, n, down, t in CHANGES]
        store.load_sequencer(market.sequencer("arbitrum"), SequencerRead(100, changes, WINDOW[1]), "test_sequencer")
    result = dbt_build(raw, f"{raw}_A", work)
    assert result.returncode == 0, result.stdout[-4000:]
    return f"{raw}_A"
