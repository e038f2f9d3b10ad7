"""Bad rounds are rejected with their reason, stored apart, and never loaded as prices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import snowflake.connector
from web3 import Web3

from chainlink_feeds.abi import ZERO_ADDRESS
from chainlink_feeds.operators import ChainlinkFeedOperator
from chainlink_feeds.rounds import ROUND_MASK, Round, ServedRound, validate
from devstack.services import emulator
from tests.support.scratch_chain import deploy, free_port, scratch_chain, transact

DAY_START = datetime(2026, 1, 1, tzinfo=UTC)
T0 = int(DAY_START.timestamp())
H = 3600

# (answer, startedAt, updatedAt) for aggregator rounds 1..8; the window is [T0, T0 + 24h).
ROUNDS = [
    (100_000_000, T0 - H - 5, T0 - H),  # 1: before the window: the carry-in
    (100_100_000, T0 + H - 5, T0 + H),  # 2: fine
    (0, T0 + 2 * H - 5, T0 + 2 * H),  # 3: zero answer
    (-5, T0 + 3 * H - 5, T0 + 3 * H),  # 4: negative answer
    (100_000_000, 0, T0 + 4 * H),  # 5: zero startedAt
    (100_000_000, T0 + 5 * H, 0),  # 6: zero updatedAt
    (100_000_000, T0 + 3 * H - 5, T0 + 3 * H),  # 7: fine
    (99_000_000, T0 + 2 * H - 5, T0 + 2 * H),  # 8: updatedAt decreases (round 7 is later)
    (100_000_000, T0 + 25 * H - 5, T0 + 25 * H),  # 9: after the window
]
EXPECTED_REJECTIONS = {
    3: "answer is not positive (0)",
    4: "answer is not positive (-5)",
    5: "startedAt is zero",
    6: "updatedAt is zero",
}


@pytest.fixture(scope="module")
def bad_feed(tmp_path_factory):
    """Chainlink's EACAggregatorProxy over its MockV3Aggregator (which stores any round as given)
    holding bad rounds, on a scratch chain (its blocks are dated 2020, before the rounds)."""
    with scratch_chain(port=free_port()) as rpc:
        mock = deploy(rpc, "MockV3Aggregator", 8, 100_000_000)
        proxy = deploy(rpc, "EACAggregatorProxy", mock, ZERO_ADDRESS)
        for number, (answer, started, updated) in enumerate(ROUNDS, start=1):
            transact(rpc, mock, "MockV3Aggregator", "updateRoundData", number, answer, updated, started)
        registry = tmp_path_factory.mktemp("registry") / "feeds.yaml"
        registry.write_text(
            "feeds:\n  - symbol: TEST\n    pair: TEST/USD\n    chain: ethereum\n"
            f'    proxy: "{Web3.to_checksum_address(proxy)}"\n    decimals: 8\n    heartbeat_seconds: 86400\n'
            "    deviation_threshold_pct: 0.25\n    peg_usd: 1.0\n    description: v0.6/tests/MockV3Aggregator.sol\n"
        )
        yield rpc.url, registry


def test_bad_rounds_are_rejected_with_their_reason(bad_feed, snowflake_schema, monkeypatch) -> None:
    url, registry = bad_feed
    monkeypatch.setenv("AIRFLOW_CONN_CHAINLINK_SCRATCH", json.dumps({"conn_type": "chainlink", "host": url}))
    summary = ChainlinkFeedOperator(
        task_id="bad", feed_pair="TEST/USD", registry_path=registry, chainlink_conn_id="chainlink_scratch",
        window_start=DAY_START.isoformat(), window_end=(DAY_START + timedelta(days=1)).isoformat(), raw_schema=snowflake_schema,
    ).execute({"run_id": "bad"})  # fmt: skip
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(f"select round_id, reason from {snowflake_schema}.CHAINLINK_ROUND_REJECTIONS order by round_id")
        rejections = {int(rid) & ROUND_MASK: reason for rid, reason in cur.fetchall()}
        cur.execute(
            f"select aggregator_round_id, price from {snowflake_schema}.CHAINLINK_ROUNDS order by aggregator_round_id"
        )
        stored = cur.fetchall()
    assert {k: v for k, v in rejections.items() if k != 8} == EXPECTED_REJECTIONS
    assert rejections[8].startswith("updatedAt") and "decreases within phase 1" in rejections[8]
    assert [n for n, _ in stored] == [1, 2, 7]
    assert all(price > 0 for _, price in stored)
    assert summary["rounds_rejected"] == 5 and summary["rounds_loaded"] == 2


def test_gaps_are_measured_on_the_served_series() -> None:
    """At a switch the new phase's round, updated earlier, is served from the activation: the gap
    is how old the previous served price was when it was replaced, and the grace absorbs a late heartbeat."""
    carry = ServedRound(Round((1 << 64) | 10, 100, 1_000, 1_000, (1 << 64) | 10), 1_000)
    switch = ServedRound(Round((2 << 64) | 1, 100, 900, 900, (2 << 64) | 1), 2_600)
    late_heartbeat = ServedRound(Round((1 << 64) | 11, 100, 2_450, 2_450, (1 << 64) | 11), 2_450)
    after = ServedRound(Round((2 << 64) | 2, 100, 4_100, 4_100, (2 << 64) | 2), 4_100)
    accepted, rejected = validate([after, switch, late_heartbeat], carry, heartbeat_limit_seconds=1_600)
    assert rejected == []
    assert [
        (a.round.aggregator_round_id, a.served_from, a.seconds_since_previous, a.is_heartbeat_exceeded)
        for a in accepted
    ] == [
        (10, 1_000, None, False),
        (11, 2_450, 1_450, False),  # a heartbeat 1_450 s after the last, within heartbeat + grace (1_600)
        (1, 2_600, 150, False),
        (2, 4_100, 4_100 - 900, True),  # the served price had been updated at 900
    ]


def test_a_timed_out_round_is_not_a_price() -> None:
    fresh = ServedRound(Round((1 << 64) | 5, 101, 1_000, 1_010, (1 << 64) | 5), 1_010)
    timed_out = ServedRound(Round((1 << 64) | 6, 101, 2_000, 9_000, (1 << 64) | 5), 9_000)
    accepted, rejected = validate([timed_out], fresh, heartbeat_limit_seconds=100_000)
    assert [a.round for a in accepted] == [fresh.round]
    (rejection,) = rejected
    assert rejection.round == timed_out.round and rejection.reason.startswith("timed out: answeredInRound")
