"""Served semantics at the edges, on a scratch node: a new phase that has served no price yet, an
empty FluxAggregator as the current phase, an old aggregator that reported after its range was
cached, and a round that moves between the price and rejection tables when a pin is corrected."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.phases import PhaseCache, PhaseRange
from chainlink_feeds.reader import FeedReader
from devstack.chain.replay import replay_many
from devstack.simulation import history
from tests.support.pipeline import query
from tests.support.scratch_chain import free_port, scratch_chain

DAY = timedelta(days=1)
T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
H = 3600
CONN_ID = "chainlink_edges"


def sim(pair: str, phase: int, n: int, answer: int, updated_at: int) -> history.SimRound:
    started_at = updated_at - 5 if phase == 1 else updated_at  # an OCR round starts when it is updated
    return history.SimRound(pair, phase, n, answer, started_at, updated_at, n)


def plan(pair: str) -> dict[str, list[history.SimPhase]]:
    """USDC: phase 2 (OCR) becomes current at T0 + 30 h with no round before T0 + 52 h.
    USDT: phase 2 is a FluxAggregator that has no round at all."""
    usdc_1 = tuple(sim(pair, 1, n, 100_000_000 + n, T0 + n * 4 * H) for n in range(1, 8))  # up to T0 + 28 h
    usdc_2 = (sim(pair, 2, 1, 99_900_000, T0 + 52 * H), sim(pair, 2, 2, 99_800_000, T0 + 60 * H))
    return [
        history.SimPhase(1, "flux", T0 - H, usdc_1),
        history.SimPhase(2, "ocr" if pair == "USDC/USD" else "flux", T0 + 30 * H, usdc_2 if pair == "USDC/USD" else ()),
    ]


@pytest.fixture(scope="module")
def node(feed_by_pair):
    with scratch_chain(port=free_port()) as rpc:
        replay_many(rpc, {feed_by_pair[p]: plan(p) for p in ("USDC/USD", "USDT/USD")}, deployed_at=T0 - 2 * H)
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({"conn_type": "chainlink", "host": rpc.url})
        try:
            yield rpc
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}")


def read(feed, start: int, cache: PhaseCache | None = None):
    moment = datetime.fromtimestamp(start, UTC)
    return FeedReader(ChainlinkHook(chainlink_conn_id=CONN_ID), feed, cache).read(moment, moment + DAY)


def test_the_carry_in_is_the_old_phase_while_the_new_one_has_served_nothing(node, feed_by_pair) -> None:
    result = read(feed_by_pair["USDC/USD"], T0 + 40 * H)  # after the switch, before phase 2's first round
    assert result.carry_in.round.round_id == (1 << 64) | 7 and result.carry_in.served_from == T0 + 28 * H
    assert [(s.round.round_id, s.served_from) for s in result.rounds] == [
        ((2 << 64) | 1, T0 + 52 * H),
        ((2 << 64) | 2, T0 + 60 * H),
    ]


def test_an_empty_flux_phase_is_current_without_failing_the_read(node, feed_by_pair) -> None:
    result = read(feed_by_pair["USDT/USD"], T0 + 40 * H)
    assert result.rounds == [] and result.activations[2].timestamp == T0 + 30 * H
    assert result.carry_in.round.round_id == (1 << 64) | 7


def test_rounds_an_old_aggregator_reported_after_its_range_was_cached_are_found(node, feed_by_pair) -> None:
    feed = feed_by_pair["USDC/USD"]
    cache = PhaseCache()
    aggregator = read(feed, T0, cache).activations[1].aggregator
    key = PhaseCache.key("range", feed.chain_id, feed.proxy, 1, aggregator)
    cache.put(key, PhaseRange(aggregator, 5, T0 + 4 * H, T0 + 20 * H))  # as cached before rounds 6 and 7
    result = read(feed, T0 + 2 * H, cache)
    assert [s.round.aggregator_round_id for s in result.rounds if s.round.phase_id == 1] == [1, 2, 3, 4, 5, 6]
    assert cache.get_range(key).last_round == 7


@pytest.fixture(scope="module")
def pruned(feed_by_pair):
    """USDC's plan on a node without historical state: only a registry pin can place the switch."""
    with scratch_chain(port=free_port(), prune_history=True) as rpc:
        replay_many(rpc, {feed_by_pair["USDC/USD"]: plan("USDC/USD")}, deployed_at=T0 - 2 * H)
        os.environ["AIRFLOW_CONN_CHAINLINK_EDGES_PRUNED"] = json.dumps({"conn_type": "chainlink", "host": rpc.url})
        try:
            yield rpc
        finally:
            os.environ.pop("AIRFLOW_CONN_CHAINLINK_EDGES_PRUNED")


def test_a_corrected_pin_moves_rounds_between_prices_and_rejections(pruned, snowflake_schema, tmp_path) -> None:
    """A wrong pin (the node cannot check it) files phase 1's later rounds as never served; after
    the pin is corrected, reloading the same days puts them back among the prices."""
    from chainlink_feeds.operators import ChainlinkFeedOperator

    day = datetime.fromtimestamp(T0, UTC)

    def load(pin: int) -> None:
        ChainlinkFeedOperator(
            task_id="load", feed_pair="USDC/USD", registry_path=registry(tmp_path, pin),
            chainlink_conn_id="chainlink_edges_pruned", raw_schema=snowflake_schema,
            window_start=day.isoformat(), window_end=(day + 3 * DAY).isoformat(),
        ).execute({"run_id": f"pin_{pin}"})  # fmt: skip

    def table(name: str) -> set[tuple[int, int]]:
        ids = query(f"select round_id from {snowflake_schema}.{name}").round_id
        return {(int(r) >> 64, int(r) & 0xFFFF) for r in ids}

    load(T0 + 10 * H)  # wrong: the proxy switched at T0 + 30 h
    assert table("CHAINLINK_ROUNDS") == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert table("CHAINLINK_ROUND_REJECTIONS") == {(1, n) for n in range(3, 8)}
    load(T0 + 30 * H)
    assert table("CHAINLINK_ROUNDS") == {(1, n) for n in range(1, 8)} | {(2, 1), (2, 2)}
    assert table("CHAINLINK_ROUND_REJECTIONS") == set()


def registry(tmp_path, pin: int) -> str:
    path = tmp_path / f"feeds-{pin}.yaml"
    path.write_text(
        "feeds:\n  - symbol: USDC\n    pair: USDC/USD\n    chain: ethereum\n"
        '    proxy: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"\n    decimals: 8\n    heartbeat_seconds: 86400\n'
        "    deviation_threshold_pct: 0.25\n    peg_usd: 1.0\n"
        f"    phase_activations: {{1: '{datetime.fromtimestamp(T0 - H, UTC).isoformat()}', "
        f"2: '{datetime.fromtimestamp(pin, UTC).isoformat()}'}}\n"
    )
    return str(path)


def test_a_cached_switch_another_chain_found_is_searched_again(node, feed_by_pair) -> None:
    """A local node deploys aggregators at the same addresses as another node with another history:
    a cached switch whose blocks do not carry the cached times is not trusted."""
    feed = feed_by_pair["USDC/USD"]
    cache = PhaseCache()
    truth = read(feed, T0, cache).activations[2]
    key = PhaseCache.key("activation", feed.chain_id, feed.proxy, 2, truth.aggregator)
    cache.put(key, replace(truth, timestamp=truth.timestamp - 7 * H, previous_block_timestamp=truth.timestamp - 8 * H))
    assert read(feed, T0, cache).activations[2] == truth
    assert cache.get_activation(key) == truth
