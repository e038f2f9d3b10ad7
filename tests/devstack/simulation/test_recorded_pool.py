"""The recorded USDC/USDT 0.01 % pool (every hour of May 2022) replayed onto its mainnet address with
the recorded Chainlink rounds in one schedule: every hour reads back at its block exactly as
recorded, and the feeds still serve what they served on mainnet."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from web3 import Web3

from devstack.chain.contracts import CHAINLINK
from devstack.chain.replay import replay_many
from devstack.chain.rpc import ChainError
from devstack.chain.uniswap import pool_states
from devstack.simulation import recorded, recorded_pool
from devstack.simulation.recorded_pool import POOL, RecordedPoolError
from tests.plugins.chainlink_feeds.test_recorded_mainnet import SWITCH_AT
from tests.support.recorded import expected
from tests.support.scratch_chain import free_port, scratch_chain

MAY, JUNE = datetime(2022, 5, 1, tzinfo=UTC), datetime(2022, 6, 1, tzinfo=UTC)
SWAP_TOPIC = "0x" + Web3.keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex().removeprefix(
    "0x"
)


@pytest.fixture(scope="module")
def may(feed_by_pair):
    """A scratch node holding both feeds' recorded rounds and May 2022's pool hours; yields (rpc, hour -> block)."""
    with scratch_chain(port=free_port()) as rpc:
        plans = {feed_by_pair[pair]: recorded.plan(pair, at) for pair, at in SWITCH_AT.items()}
        started = time.monotonic()
        blocks = recorded_pool.replay(rpc, plans, start=MAY, end=JUNE)
        print(f"replayed May 2022 (pool and rounds) in {time.monotonic() - started:.1f} s")
        yield rpc, blocks


def test_every_hour_of_may_lands_in_a_block_at_its_time(may) -> None:
    rpc, blocks = may
    assert [h.hour for h in blocks] == [h.hour for h in recorded_pool.hours(MAY, JUNE)]
    assert len(blocks) == 31 * 24
    numbers = list(blocks.values())
    assert numbers == sorted(set(numbers))
    stamps = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    assert [int(s["timestamp"], 16) for s in stamps] == [h.timestamp for h in blocks]


def test_every_hour_reads_back_the_recorded_tick_and_liquidity(may) -> None:
    rpc, blocks = may
    states = pool_states(rpc, POOL.address, list(blocks.values()))
    assert [(s.tick, s.liquidity) for s in states] == [(h.tick, h.liquidity) for h in blocks]
    wobble = [h.hour for h, s in zip(blocks, states, strict=True) if s.liquidity == 0]
    assert len(wobble) == 5 and {h.date() for h in wobble} == {datetime(2022, 5, 12).date()}
    assert min(s.tick for s in states) < 0 < max(s.tick for s in states)


def test_each_tick_change_is_a_real_swap(may) -> None:
    rpc, blocks = may
    hours, numbers = list(blocks), list(blocks.values())
    logs = rpc.call(
        "eth_getLogs",
        {"address": POOL.address, "topics": [SWAP_TOPIC], "fromBlock": hex(numbers[0]), "toBlock": hex(numbers[-1])},
    )
    moved = [n for n, a, b in zip(numbers[1:], hours, hours[1:], strict=False) if a.tick != b.tick]
    first = [numbers[0]] if hours[0].tick != 0 else []  # the pool was created at tick 0 (price 1)
    assert [int(log["blockNumber"], 16) for log in logs] == [*first, *moved]


@pytest.mark.parametrize("pair", sorted(SWITCH_AT))
def test_the_feeds_still_serve_the_recorded_rounds(may, feed_by_pair, pair) -> None:
    rpc, blocks = may
    data = CHAINLINK.encode("EACAggregatorProxy", "latestRoundData")
    answers = rpc.batch(
        [("eth_call", [{"to": feed_by_pair[pair].proxy, "data": data}, hex(n)]) for n in blocks.values()]
    )
    served = expected(pair, SWITCH_AT[pair]).served
    for hour, raw in zip(blocks, answers, strict=True):
        round_id, answer, _, updated_at, _ = Web3().codec.decode(
            ["uint80", "int256", "uint256", "uint256", "uint80"], bytes.fromhex(raw[2:])
        )
        want = [r for r, since in served if since <= hour.timestamp][-1]
        assert (round_id, answer, updated_at) == (want.round_id, want.answer, want.updated_at), hour


def test_a_bad_row_is_named_by_file_line_and_field(tmp_path, monkeypatch) -> None:
    bad = tmp_path / recorded_pool.RECORDED_FILE.name
    bad.write_text(
        "hour_utc,timestamp,block,tick,liquidity\n"
        "2022-01-01T00:00:00Z,1640995200,13916166,-1,430394234327008495\n"
        "2022-01-01T01:00:00Z,1640998800,13916450,minus one,430394234327008495\n"
    )
    monkeypatch.setattr(recorded_pool, "RECORDED_FILE", bad)
    with pytest.raises(RecordedPoolError, match="uniswap_v3_usdc_usdt_001_hourly_2022.csv line 3: .*'minus one'"):
        recorded_pool.hours()
    bad.write_text("hour_utc,timestamp,block,tick,liquidity\n2022-01-01T00:00:00Z,1640995201,13916166,-1,4\n")
    with pytest.raises(RecordedPoolError, match="line 2: timestamp 1640995201 is not hour_utc"):
        recorded_pool.hours()
    monkeypatch.setattr(recorded_pool, "RECORDED_FILE", tmp_path / "missing.csv")
    with pytest.raises(RecordedPoolError, match="missing.csv is missing"):
        recorded_pool.hours()


def test_a_span_without_hours_is_refused_before_touching_the_node() -> None:
    with pytest.raises(RecordedPoolError, match="no hour in"):
        recorded_pool.replay(None, {}, start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 2, 1, tzinfo=UTC))


def test_pool_moves_before_the_feeds_deployment_are_refused() -> None:
    with pytest.raises(ChainError, match=f"transactions at {recorded.DEPLOYED_AT} do not come after deployed_at"):
        replay_many(None, {}, deployed_at=recorded.DEPLOYED_AT, transactions={recorded.DEPLOYED_AT: []})
