"""An L2's prices are marked untrusted while its sequencer is down and for the grace period after,
in the marts, with every round kept: the sequencer's status intervals, each round's status when it
was served, and the feed's status at the end of its data.

The rows are written through the ingest's own store (RoundStore) and built by the project's dbt on
the emulator; the scripted outages are test inputs, not chain data."""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import snowflake.connector

from chainlink_feeds.registry import load_market
from chainlink_feeds.rounds import AcceptedRound, Round, proxy_round_id
from chainlink_feeds.sequencer import SequencerRead, SequencerRound
from chainlink_feeds.store import RoundStore
from devstack.services import emulator
from tests.plugins.chainlink_feeds.test_registry_chains import CHAINS
from tests.plugins.chainlink_feeds.test_registry_market import write
from tests.support.pipeline import create_schema, dbt_build, drop_pipeline, query

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)
GRACE = timedelta(seconds=1800)  # CHAINS' arbitrum grace_period_seconds
# (phase, round, is_down, changed at): down 10-12 h, back, down again inside the grace period, back
# at 13 h; phase 2 opens repeating "up" (no change).
CHANGES = [
    (1, 1, False, T0),
    (1, 2, True, T0 + 10 * H),
    (1, 3, False, T0 + 12 * H),
    (1, 4, True, T0 + 12 * H + 20 * M),
    (1, 5, False, T0 + 13 * H),
    (2, 1, False, T0 + 15 * H),
]
EXPECTED_INTERVALS = [
    ("up", T0, T0 + 10 * H),
    ("down", T0 + 10 * H, T0 + 12 * H),
    ("grace", T0 + 12 * H, T0 + 12 * H + 20 * M),  # cut short: down again
    ("down", T0 + 12 * H + 20 * M, T0 + 13 * H),
    ("grace", T0 + 13 * H, T0 + 13 * H + GRACE),
    ("up", T0 + 13 * H + GRACE, None),
]
WINDOW = (T0 - 2 * H, T0 + 20 * H)
FEED_ROUNDS = [T0 - H + 5 * M, *(T0 + k * H + 5 * M for k in range(19))]  # hourly, 5 past the hour


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


@pytest.fixture(scope="module")
def built(stack, tmp_path_factory):
    """An Arbitrum USDC feed and an Ethereum one, hourly, beside Arbitrum's scripted status changes."""
    work = tmp_path_factory.mktemp("sequencer")
    market = load_market(write(work, CHAINS))
    ethereum, arbitrum = market.feeds
    raw = f"SEQ_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    try:
        with closing(snowflake.connector.connect(**emulator.connection_params())) as conn:
            store = RoundStore(conn, raw)
            store.ensure_tables()
            for feed, price in ((arbitrum, 99_990_000), (ethereum, 100_010_000)):
                store.load(feed, WINDOW, rounds(FEED_ROUNDS, price), [], None, {}, 100, "test_sequencer")
            changes = [SequencerRound(proxy_round_id(p, n), down, int(t.timestamp())) for p, n, down, t in CHANGES]
            store.load_sequencer(market.sequencer("arbitrum"), SequencerRead(100, changes), "test_sequencer")
        result = dbt_build(raw, f"{raw}_A", Path(work))
        assert result.returncode == 0, result.stdout[-4000:]
        yield f"{raw}_A"
    finally:
        drop_pipeline(raw)


def test_the_sequencer_status_is_consecutive_intervals_with_the_grace_period(built) -> None:
    intervals = query(
        f"select sequencer_status, status_from, status_until, is_untrusted from {built}_STAGING.INT_CHAIN__SEQUENCER_STATUS "
        "where chain = 'arbitrum' order by status_from"
    )
    got = [
        (r.sequencer_status, r.status_from.replace(tzinfo=UTC), None if pd.isna(r.status_until) else r.status_until.replace(tzinfo=UTC))
        for r in intervals.itertuples()
    ]  # fmt: skip
    # the open interval's NULL may reach the client as 1970-01-01 on the emulator: asked apart
    open_until = query(
        f"select count(*) as n from {built}_STAGING.INT_CHAIN__SEQUENCER_STATUS where status_until is null"
    ).n[0]
    assert open_until == 1
    got[-1] = (*got[-1][:2], None)
    assert got == EXPECTED_INTERVALS
    assert list(intervals.is_untrusted) == [s in ("down", "grace") for s, _, _ in EXPECTED_INTERVALS]


def test_every_round_is_kept_with_the_sequencer_status_it_was_served_under(built) -> None:
    health = query(
        f"select chain, served_from, sequencer_status, is_price_trusted, peg_status from {built}_MARTS.STABLECOIN_PEG_HEALTH "
        "order by chain, served_from"
    )
    arbitrum, ethereum = health[health.chain == "arbitrum"], health[health.chain == "ethereum"]
    assert len(arbitrum) == len(ethereum) == len(FEED_ROUNDS)  # nothing hidden or dropped
    expected = [expected_status(t) for t in FEED_ROUNDS]
    assert list(arbitrum.sequencer_status) == expected
    assert {"unknown", "up", "down", "grace"} <= set(expected)
    assert list(arbitrum.is_price_trusted) == [s == "up" for s in expected]
    assert set(arbitrum.peg_status) == {"healthy"}  # the price is judged as always, beside the flag
    assert ethereum.sequencer_status.isna().all() and ethereum.is_price_trusted.all()


def test_the_staleness_mart_gives_each_feeds_sequencer_status_at_the_end_of_its_data(built) -> None:
    staleness = query(
        f"select chain, sequencer_status, sequencer_status_since from {built}_MARTS.CHAINLINK_FEED_STALENESS order by chain"
    )
    arbitrum, ethereum = staleness.itertuples(index=False)
    assert (arbitrum.chain, arbitrum.sequencer_status) == ("arbitrum", "up")
    assert arbitrum.sequencer_status_since.replace(tzinfo=UTC) == T0 + 13 * H + GRACE
    assert ethereum.chain == "ethereum" and pd.isna(ethereum.sequencer_status)
