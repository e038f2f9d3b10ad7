"""Phase switches: a chain's proxies searched together find what each proxy's own search finds, at
the simulation's activation times, for a fraction of the calls; reads at past blocks run one
Multicall3 per block where it is deployed and give what plain eth_calls give."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chainlink_feeds.abi import PROXY
from chainlink_feeds.errors import HistoricalStateUnavailableError
from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.phases import PhaseCache, prefetch_activations
from chainlink_feeds.reader import FeedReader
from chainlink_feeds.rounds import proxy_round_id
from devstack.chain.stack_history import oracles
from devstack.settings import ANVIL_URL
from devstack.simulation import history
from tests.plugins.chainlink_feeds.test_hooks import connection

DAY = timedelta(days=1)


def activations(cache: PhaseCache) -> dict[str, dict]:
    return {k: v for k, v in cache._data.items() if k.startswith("activation:")}


def test_switches_searched_together_equal_each_proxys_own_search(stack, feeds) -> None:
    every = oracles(feeds)  # the Ethereum node's feeds and references, as its chain task loads them
    together, alone = PhaseCache(), PhaseCache()
    hook = ChainlinkHook()
    prefetch_activations(hook, every, together)
    joint_calls = hook.calls_made
    own_calls = 0
    for oracle in every:
        own = ChainlinkHook()
        FeedReader(own, oracle, alone).read(stack.end - DAY, stack.end)
        own_calls += own.calls_made
    assert activations(together) == activations(alone)
    for oracle in every:  # and they are the simulation's switches
        switches = {a.phase_id: a.timestamp for a in together.activations(oracle.chain_id, oracle.proxy)}
        assert switches == {p.phase: p.activated_at for p in history.phases(oracle, stack)}, oracle.pair
    assert joint_calls * 3 < own_calls, (joint_calls, own_calls)
    cached = ChainlinkHook()
    prefetch_activations(cached, every, together)  # nothing left to search: no call at all
    assert cached.calls_made == 0


def test_before_multicall_each_proxy_is_read_at_its_own_probes_only(stack, feeds, monkeypatch) -> None:
    """Where a block has no Multicall3 (mainnet's before March 2022), reading every proxy at every
    probe block would cost an eth_call each: the search together then costs no more than each
    proxy's own reads."""
    every = oracles(feeds)
    conn_id = connection(monkeypatch, "plain_rpc", ANVIL_URL, use_multicall=False)
    together, hook = PhaseCache(), ChainlinkHook(conn_id)
    prefetch_activations(hook, every, together)
    own_calls = 0
    for oracle in every:
        own = ChainlinkHook(conn_id)
        FeedReader(own, oracle, PhaseCache()).read(stack.end - DAY, stack.end)
        own_calls += own.calls_made
    for oracle in every:
        switches = {a.phase_id: a.timestamp for a in together.activations(oracle.chain_id, oracle.proxy)}
        assert switches == {p.phase: p.activated_at for p in history.phases(oracle, stack)}, oracle.pair
    assert hook.calls_made <= own_calls, (hook.calls_made, own_calls)


def test_a_cold_read_finds_the_switches_in_few_past_block_reads(stack, feed_by_pair) -> None:
    """Seven blocks per candidate range a round: about 35 past-block reads per switch on this node,
    where one 200-block batch per round read about 300 for a feed's two switches."""
    hook = ChainlinkHook()
    read = FeedReader(hook, feed_by_pair["USDC/USD"], PhaseCache()).read(stack.end - 30 * DAY, stack.end - 29 * DAY)
    assert {a.phase_id: a.timestamp for a in read.activations.values()} == {
        p.phase: p.activated_at for p in history.phases(feed_by_pair["USDC/USD"], stack)
    }
    assert hook.calls_made <= 100 and hook.requests_made <= 28


def test_one_proxy_is_left_to_its_own_read(stack, feed_by_pair) -> None:
    cache, hook = PhaseCache(), ChainlinkHook()
    prefetch_activations(hook, [feed_by_pair["USDC/USD"]], cache)
    assert hook.calls_made == 0 and not activations(cache)


def test_past_block_reads_through_multicall_equal_plain_eth_calls(stack, feed_by_pair, monkeypatch) -> None:
    usdc = feed_by_pair["USDC/USD"]
    flux_phase = history.phases(usdc, stack)[0]
    assert flux_phase.kind == "flux"
    missing = PROXY["getRoundData"].encode(proxy_round_id(1, 10**6))  # a Flux phase reverts on it
    head = ChainlinkHook().pinned_block()
    blocks = [head - 3000, head - 2000, head - 1000]
    calls = [
        (address, data, b)
        for b in blocks
        for address, data in (
            (usdc.proxy, PROXY["phaseId"].encode()),
            (usdc.proxy, PROXY["latestRoundData"].encode()),
            (usdc.proxy, missing),
            ("0x000000000000000000000000000000000000dEaD", PROXY["phaseId"].encode()),  # no code: empty answer
        )
    ]
    plain = ChainlinkHook(connection(monkeypatch, "plain_rpc", ANVIL_URL, use_multicall=False))
    multicall = ChainlinkHook()
    expected = plain.call_at_blocks(calls, reverts=True)
    assert multicall.call_at_blocks(calls, reverts=True) == expected
    assert expected[2] is None and expected[3] == b""
    assert multicall.calls_made == len(blocks) + 1  # one aggregate3 per block, after one eth_getCode
    assert plain.calls_made == len(calls)
    for hook in (ChainlinkHook(connection(monkeypatch, "plain_rpc", ANVIL_URL, use_multicall=False)), ChainlinkHook()):
        with pytest.raises(HistoricalStateUnavailableError, match=f"at block {blocks[0]}"):
            hook.call_at_blocks(calls)  # a revert where an answer is due


def test_blocks_before_multicall_are_read_one_call_at_a_time(stack, feed_by_pair, monkeypatch) -> None:
    """Multicall3 is deployed with the history's contracts: block 0 predates it (as mainnet's blocks
    before March 2022 do), so a call there is a plain eth_call and the later blocks' run together."""
    usdc = feed_by_pair["USDC/USD"]
    head = ChainlinkHook().pinned_block()
    calls = [
        (usdc.proxy, data, b)
        for b in (0, head - 10, head)
        for data in (PROXY["phaseId"].encode(), PROXY["decimals"].encode())
    ]
    hook = ChainlinkHook()
    answers = hook.call_at_blocks(calls)
    plain = ChainlinkHook(connection(monkeypatch, "plain_rpc", ANVIL_URL, use_multicall=False))
    assert answers == plain.call_at_blocks(calls)
    assert answers[0] == b"" and PROXY["phaseId"].decode(answers[4])[0] == len(history.phases(usdc, stack))
    # eth_getCode at block 0, at the head, then at head - 10 (the bisection); 2 plain calls; 2 aggregate3
    assert hook.calls_made == 3 + 2 + 2
