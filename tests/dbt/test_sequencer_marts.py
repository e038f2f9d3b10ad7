"""An L2's prices are marked untrusted while its sequencer is down and for the grace period after,
in the marts, with every round kept: the sequencer's status intervals, each round's status when it
was served, and the feed's status at the end of its data (tests.support.sequencer_marts)."""

from __future__ import annotations

import uuid
from datetime import UTC

import pandas as pd
import pytest

from tests.support.pipeline import create_schema, drop_pipeline, query
from tests.support.sequencer_marts import EXPECTED_INTERVALS, FEED_ROUNDS, T0, H, build_l2_marts, expected_status


@pytest.fixture(scope="module")
def built(stack, tmp_path_factory):
    raw = f"SEQ_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    try:
        yield build_l2_marts(raw, tmp_path_factory.mktemp("sequencer"))
    finally:
        drop_pipeline(raw)


def test_the_sequencer_status_is_consecutive_intervals_with_the_grace_period(built) -> None:
    intervals = query(
        f"select sequencer_status, status_from, status_until, is_untrusted from {built}_STAGING.INT_CHAINLINK__SEQUENCER_STATUS "
        "where chain = 'arbitrum' order by status_from"
    )
    got = [
        (r.sequencer_status, r.status_from.replace(tzinfo=UTC), None if pd.isna(r.status_until) else r.status_until.replace(tzinfo=UTC))
        for r in intervals.itertuples()
    ]  # fmt: skip
    # the open interval's NULL may reach the client as 1970-01-01 on the emulator: asked apart
    open_until = query(
        f"select count(*) as n from {built}_STAGING.INT_CHAINLINK__SEQUENCER_STATUS where status_until is null"
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
    assert (arbitrum.chain, arbitrum.sequencer_status) == ("arbitrum", "down")
    assert arbitrum.sequencer_status_since.replace(tzinfo=UTC) == T0 + 19 * H
    assert ethereum.chain == "ethereum" and pd.isna(ethereum.sequencer_status)
