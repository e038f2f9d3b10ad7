"""One alert per L2 sequencer transition: down, back (its grace period begins), and trusted again once
the grace period is over; a retry or rerun pages nothing twice, an outage inside the grace period
gives no premature "resolved"."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import snowflake.connector

from chainlink_feeds.registry import load_market
from chainlink_feeds.rounds import proxy_round_id
from chainlink_feeds.sequencer import SequencerRead, SequencerRound
from chainlink_feeds.store import RoundStore
from devstack.services import emulator
from devstack.settings import DASHBOARD_URL
from peg_alerts.rules import FeedKey
from peg_alerts.sequencer_rules import DOWN, GRACE, UP, StatusChange, sequencer_transitions
from tests.plugins.chainlink_feeds.test_registry_chains import CHAINS
from tests.plugins.chainlink_feeds.test_registry_market import write
from tests.plugins.peg_alerts.test_operators import recorded, run_alerts

KEY = FeedKey("arbitrum", "0xFdB631F5EE196F0ed6FAa767959853A9F217697D", "arbitrum sequencer")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)
GRACE_PERIOD = 30 * M


def changes(*spec: tuple[bool, timedelta]) -> list[StatusChange]:
    return [StatusChange(proxy_round_id(1, n), down, T0 + at) for n, (down, at) in enumerate(spec, start=1)]


def found(spec, grace=GRACE_PERIOD, as_of=T0 + 24 * H) -> list[tuple[str, str, datetime, int]]:
    return [
        (t.from_status, t.to_status, t.occurred_at, t.round_id & 0xFF)
        for t in sequencer_transitions(KEY, changes(*spec), grace, as_of)
    ]


def test_an_outage_is_down_then_grace_then_up() -> None:
    spec = [(False, 0 * H), (True, 2 * H), (False, 3 * H)]
    assert found(spec) == [
        (UP, DOWN, T0 + 2 * H, 2),
        (DOWN, GRACE, T0 + 3 * H, 3),
        (GRACE, UP, T0 + 3 * H + GRACE_PERIOD, 3),
    ]


def test_the_grace_period_ends_only_once_the_data_reaches_it() -> None:
    spec = [(False, 0 * H), (True, 2 * H), (False, 3 * H)]
    assert found(spec, as_of=T0 + 3 * H + 10 * M)[-1][:2] == (DOWN, GRACE)
    assert found(spec, as_of=None)[-1][:2] == (DOWN, GRACE)


def test_down_again_inside_the_grace_period_gives_no_resolved_in_between() -> None:
    spec = [(False, 0 * H), (True, 2 * H), (False, 3 * H), (True, 3 * H + 20 * M), (False, 4 * H)]
    assert [t[:2] for t in found(spec)] == [(UP, DOWN), (DOWN, GRACE), (GRACE, DOWN), (DOWN, GRACE), (GRACE, UP)]


def test_a_repeated_status_is_no_change_and_a_feed_that_starts_down_alerts_once() -> None:
    spec = [(True, 0 * H), (True, 1 * H), (False, 2 * H), (False, 2 * H + 5 * M)]
    assert [t[:2] for t in found(spec)] == [(UP, DOWN), (DOWN, GRACE), (GRACE, UP)]


def test_the_grace_period_is_over_only_once_read_past_its_end() -> None:
    spec = [(False, 0 * H), (True, 2 * H), (False, 3 * H)]
    assert found(spec, as_of=T0 + 3 * H + GRACE_PERIOD)[-1][:2] == (DOWN, GRACE)  # as the marts: [from, until)
    assert found(spec, as_of=T0 + 3 * H + GRACE_PERIOD + timedelta(seconds=1))[-1][:2] == (GRACE, UP)


def test_down_and_up_in_one_second_is_a_grace_period() -> None:
    """The uptime feed takes two changes with one L1 timestamp; ordered by round they are down, then back."""
    spec = [(False, 0 * H), (True, 2 * H), (False, 2 * H)]
    assert found(spec) == [
        (UP, DOWN, T0 + 2 * H, 2),
        (DOWN, GRACE, T0 + 2 * H, 3),
        (GRACE, UP, T0 + 2 * H + GRACE_PERIOD, 3),
    ]


def test_without_a_grace_period_up_follows_down_directly() -> None:
    spec = [(False, 0 * H), (True, 2 * H), (False, 3 * H)]
    assert found(spec, grace=timedelta(0), as_of=None) == [(UP, DOWN, T0 + 2 * H, 2), (DOWN, UP, T0 + 3 * H, 3)]


def test_a_later_outage_proves_the_grace_period_over_without_loaded_windows() -> None:
    spec = [(False, 0 * H), (True, 2 * H), (False, 3 * H), (True, 5 * H)]
    assert [t[:2] for t in found(spec, as_of=None)] == [(UP, DOWN), (DOWN, GRACE), (GRACE, UP), (UP, DOWN)]


@pytest.fixture
def arbitrum(snowflake_schema: str, tmp_path: Path):
    """The registry's Arbitrum chain (30 min grace), in a schema of its own."""
    return snowflake_schema, load_market(write(tmp_path, CHAINS)).sequencer("arbitrum")


def load(schema: str, chain, spec: list[tuple[bool, datetime]], until: datetime) -> None:
    """The sequencer's changes that began before `until`, read up to `until`, as the chain's task stores them."""
    with closing(snowflake.connector.connect(**emulator.connection_params())) as conn:
        store = RoundStore(conn, schema)
        store.ensure_tables()
        rounds = [
            SequencerRound(proxy_round_id(1, n), down, int(at.timestamp()))
            for n, (down, at) in enumerate(spec, 1)
            if at < until
        ]
        store.load_sequencer(chain, SequencerRead(1, rounds, until), "test")


def test_each_sequencer_transition_pages_once(arbitrum, receiver) -> None:
    schema, chain = arbitrum
    now = datetime.now(UTC).replace(microsecond=0)
    spec = [(False, now - 3 * H), (True, now - 50 * M), (False, now - 20 * M)]
    load(schema, chain, spec, now - 10 * M)  # back 20 min ago, within its 30 min grace period
    assert run_alerts(schema)["sent"] == 2
    down, back = receiver.received
    assert (down["title"], down["type"]) == ("SEQUENCER DOWN arbitrum: its Chainlink prices are untrusted", "failure")
    assert f"Since: {spec[1][1]:%Y-%m-%d %H:%M:%S} UTC" in down["message"]
    assert f"Dashboard: {DASHBOARD_URL}/feed_health?start=" in down["message"]
    assert (back["title"], back["type"]) == (
        "SEQUENCER BACK arbitrum: prices untrusted for the grace period",
        "warning",
    )
    assert run_alerts(schema, run_id="scheduled__retry")["sent"] == 0

    grace_end = spec[2][1] + timedelta(seconds=chain.grace_period_seconds)
    load(schema, chain, spec, grace_end)  # read up to the grace period's end, not past it
    assert run_alerts(schema)["sent"] == 0
    load(schema, chain, spec, now + 15 * M)  # read past it
    assert run_alerts(schema)["sent"] == 1
    resolved = receiver.received[2]
    assert resolved["type"] == "success" and resolved["title"].startswith("RESOLVED arbitrum sequencer up")
    assert (
        f"Since: {grace_end:%Y-%m-%d %H:%M:%S} UTC (back at {spec[2][1]:%Y-%m-%d %H:%M:%S} UTC" in resolved["message"]
    )
    assert [row[:4] for row in recorded(schema)] == [
        ("sequencer", DOWN, None, True),
        ("sequencer", GRACE, None, True),
        ("sequencer", UP, None, True),
    ]
    load(schema, chain, spec, now - 30 * M)  # a backfill of an older window: how far it was read stays
    assert run_alerts(schema)["recorded"] == 0 and len(receiver.received) == 3
