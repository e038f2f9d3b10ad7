"""Real mainnet rounds (USDC/USD and USDT/USD, 2021-02 to 2022-11), replayed onto a local node on
the aggregator kinds they came from, read back day by day: every UTC day's served rounds, carry-in
and never-served rounds equal the expectation computed from the CSV rows alone."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chainlink_feeds.errors import HistoricalStateUnavailableError, PhaseActivationError
from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.phases import PhaseCache
from chainlink_feeds.reader import FeedReader
from devstack.chain.replay import replay_many
from devstack.simulation import recorded
from tests.support.recorded import expected, window
from tests.support.scratch_chain import free_port, scratch_chain

DAY = timedelta(days=1)
# The recording does not say when each proxy switched to phase 2; mid-day, inside the overlap.
SWITCH_AT = {
    "USDC/USD": int(datetime(2021, 6, 15, 13, 37, 11, tzinfo=UTC).timestamp()),
    "USDT/USD": int(datetime(2021, 9, 2, 7, 45, 30, tzinfo=UTC).timestamp()),
}
FIRST_DAY, LAST_DAY = datetime(2021, 2, 15, tzinfo=UTC), datetime(2022, 11, 16, tzinfo=UTC)
CONN_ID = "chainlink_recorded"
PRUNED_CONN_ID = "chainlink_recorded_pruned"


@pytest.fixture(scope="module")
def recorded_node(feed_by_pair):
    """A scratch node holding both feeds' recorded rounds behind EACAggregatorProxy at their mainnet addresses."""
    with scratch_chain(port=free_port()) as rpc:
        plans = {feed_by_pair[pair]: recorded.plan(pair, at) for pair, at in SWITCH_AT.items()}
        replay_many(rpc, plans, deployed_at=recorded.DEPLOYED_AT)
        previous = os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}")
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({"conn_type": "chainlink", "host": rpc.url})
        try:
            yield rpc
        finally:
            if previous is None:
                os.environ.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}")


def key(r) -> tuple[int, int, int, int, int]:
    return (r.round_id, r.answer, r.started_at, r.updated_at, r.proxy_answered_in_round)


def got_key(r) -> tuple[int, int, int, int, int]:
    return (r.round_id, r.answer, r.started_at, r.updated_at, r.answered_in_round)


@pytest.mark.parametrize("pair", sorted(SWITCH_AT))
def test_every_day_served_equals_the_recorded_expectation(recorded_node, feed_by_pair, pair) -> None:
    feed = feed_by_pair[pair]
    exp = expected(pair, SWITCH_AT[pair])
    not_prices = exp.never_served + exp.timed_out
    cache = PhaseCache()
    hook = ChainlinkHook(chainlink_conn_id=CONN_ID)
    days, seen_unserved = 0, 0
    day = FIRST_DAY
    while day < LAST_DAY:
        read = FeedReader(hook, feed, cache).read(day, day + DAY)
        inside, carry = window(exp, day, day + DAY)
        assert [(got_key(s.round), s.served_from) for s in read.rounds] == [(key(r), f) for r, f in inside], day
        got_carry = (got_key(read.carry_in.round), read.carry_in.served_from) if read.carry_in else None
        assert got_carry == ((key(carry[0]), carry[1]) if carry else None), day
        lo, hi = int(day.timestamp()), int((day + DAY).timestamp())
        assert sorted(r.round.round_id for r in read.unserved) == sorted(
            r.round_id for r in not_prices if lo <= r.updated_at < hi
        ), day
        seen_unserved += len(read.unserved)
        days += 1
        day += DAY
    assert seen_unserved == len(not_prices)  # every never-served and timed-out round was met once
    assert hook.requests_made / days <= 5  # the switch search included, with the cache warm after once


def test_the_switch_is_found_on_chain_and_a_switch_day_is_right(recorded_node, feed_by_pair) -> None:
    feed = feed_by_pair["USDC/USD"]
    switch = SWITCH_AT["USDC/USD"]
    day = datetime.fromtimestamp(switch, UTC).replace(hour=0, minute=0, second=0)
    read = FeedReader(ChainlinkHook(chainlink_conn_id=CONN_ID), feed).read(day, day + DAY)
    assert read.activations[2].timestamp == switch and read.activations[2].source == "chain"
    assert read.activations[1].timestamp == recorded.PHASE_1_ACTIVATED_AT
    first_of_phase_2 = next(s for s in read.rounds if s.round.phase_id == 2)
    assert first_of_phase_2.served_from == switch > first_of_phase_2.round.updated_at
    assert all(s.served_from < switch for s in read.rounds if s.round.phase_id == 1)
    reasons = {r.reason.split(":")[0] for r in read.unserved}
    assert reasons == {"never served"}, reasons


@pytest.fixture(scope="module")
def pruned_node(feed_by_pair):
    """The same history on a node that keeps no historical state (as a full, non-archive node)."""
    with scratch_chain(port=free_port(), prune_history=True) as rpc:
        replay_many(
            rpc,
            {feed_by_pair["USDC/USD"]: recorded.plan("USDC/USD", SWITCH_AT["USDC/USD"])},
            deployed_at=recorded.DEPLOYED_AT,
        )
        os.environ[f"AIRFLOW_CONN_{PRUNED_CONN_ID.upper()}"] = json.dumps({"conn_type": "chainlink", "host": rpc.url})
        try:
            yield rpc
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{PRUNED_CONN_ID.upper()}")


def test_a_node_without_history_names_the_registry_pin(pruned_node, feed_by_pair) -> None:
    day = datetime(2021, 6, 15, tzinfo=UTC)
    with pytest.raises(HistoricalStateUnavailableError, match="archive node.*phase_activations"):
        FeedReader(ChainlinkHook(chainlink_conn_id=PRUNED_CONN_ID), feed_by_pair["USDC/USD"]).read(day, day + DAY)


def test_pinned_activations_replace_the_search(pruned_node, feed_by_pair) -> None:
    pinned = {
        1: datetime.fromtimestamp(recorded.PHASE_1_ACTIVATED_AT, UTC),
        2: datetime.fromtimestamp(SWITCH_AT["USDC/USD"], UTC),
    }
    feed = replace(feed_by_pair["USDC/USD"], phase_activations=pinned)
    exp = expected("USDC/USD", SWITCH_AT["USDC/USD"])
    hook = ChainlinkHook(chainlink_conn_id=PRUNED_CONN_ID)
    for day in (datetime(2021, 6, 15, tzinfo=UTC), datetime(2021, 6, 16, tzinfo=UTC)):
        read = FeedReader(hook, feed).read(day, day + DAY)
        inside, _ = window(exp, day, day + DAY)
        assert [(got_key(s.round), s.served_from) for s in read.rounds] == [(key(r), f) for r, f in inside]
        assert {a.source for a in read.activations.values()} == {"registry"}


def test_a_pin_for_a_phase_the_proxy_never_reached_is_refused(pruned_node, feed_by_pair) -> None:
    feed = replace(feed_by_pair["USDC/USD"], phase_activations={3: datetime(2022, 1, 1, tzinfo=UTC)})
    day = datetime(2021, 6, 15, tzinfo=UTC)
    with pytest.raises(PhaseActivationError, match="phaseId\\(\\) 2 .* never changed to phase 3"):
        FeedReader(ChainlinkHook(chainlink_conn_id=PRUNED_CONN_ID), feed).read(day, day + DAY)


def test_a_pin_the_chain_contradicts_is_refused_and_a_right_one_is_checked(recorded_node, feed_by_pair) -> None:
    usdc, switch = feed_by_pair["USDC/USD"], SWITCH_AT["USDC/USD"]
    day = datetime(2021, 6, 15, tzinfo=UTC)
    wrong = replace(usdc, phase_activations={2: datetime.fromtimestamp(switch - 2 * 86400, UTC)})
    with pytest.raises(
        PhaseActivationError, match="pins phase 2's activation at .* changed phaseId\\(\\) to 2 at block"
    ):
        FeedReader(ChainlinkHook(chainlink_conn_id=CONN_ID), wrong).read(day, day + DAY)
    right = replace(usdc, phase_activations={2: datetime.fromtimestamp(switch, UTC)})
    read = FeedReader(ChainlinkHook(chainlink_conn_id=CONN_ID), right).read(day, day + DAY)
    assert read.activations[2].timestamp == switch and read.activations[2].source == "chain"


def registry_with(tmp_path, pins: str) -> str:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - symbol: USDC\n    pair: USDC/USD\n    chain: ethereum\n"
        '    proxy: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"\n    decimals: 8\n    heartbeat_seconds: 86400\n'
        f"    deviation_threshold_pct: 0.25\n    peg_usd: 1.0\n{pins}"
    )
    return str(path)


@pytest.mark.parametrize(
    ("conn_id", "pins", "error"),
    [
        (PRUNED_CONN_ID, "", HistoricalStateUnavailableError),
        (CONN_ID, "    phase_activations: {2: '2021-06-13T12:00:00Z'}\n", PhaseActivationError),
    ],
    ids=["node without history", "pin the chain contradicts"],
)
def test_a_failed_switch_lookup_stores_nothing(
    recorded_node, pruned_node, snowflake_schema, tmp_path, conn_id, pins, error
) -> None:
    from chainlink_feeds.operators import ChainlinkFeedOperator
    from tests.support.pipeline import query

    with pytest.raises(error):
        ChainlinkFeedOperator(
            task_id="load", feed_pair="USDC/USD", registry_path=registry_with(tmp_path, pins), chainlink_conn_id=conn_id,
            raw_schema=snowflake_schema, window_start="2021-06-15T00:00:00+00:00", window_end="2021-06-16T00:00:00+00:00",
        ).execute({"run_id": "bad"})  # fmt: skip
    for table in ("CHAINLINK_ROUNDS", "CHAINLINK_ROUND_REJECTIONS", "CHAINLINK_PHASES", "CHAINLINK_LOAD_WINDOWS"):
        assert query(f"select count(*) as n from {snowflake_schema}.{table}").n[0] == 0, table
