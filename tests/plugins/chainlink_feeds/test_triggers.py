"""NewRoundTrigger against a chain: the latest rounds it reads are the proxies' own, it stays quiet
while nothing changes, fires for a round newer than the one it remembers and once for a round that
outlives its heartbeat plus grace. The chain is a scratch node with a short history and no oracle,
so nothing moves while a test watches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import msgpack
import pytest
from web3 import Web3

from chainlink_feeds.triggers import NewRoundTrigger, decode_latest_rounds, new_rounds, overdue_rounds
from devstack.chain import contracts
from tests.support.faulty_rpc import faulty_rpc
from tests.support.scratch_chain import free_port, scratch_chain
from tests.support.short_history import replayed


class MemoryStateStore:
    """What the triggerer injects as `asset_state_store` (get/set by key), kept in memory; values
    pass through msgpack as on their way to the metadata DB (integers past 2^64 cannot)."""

    def __init__(self, values: dict | None = None) -> None:
        self.values = dict(values or {})

    async def aget(self, key: str, default=None):
        return self.values.get(key, default)

    async def aset(self, key: str, value) -> None:
        self.values[key] = msgpack.unpackb(msgpack.packb(value))


async def _events(trigger: NewRoundTrigger, seconds: float) -> list:
    """The events the trigger yields within `seconds`."""
    events: list = []

    async def collect() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    with contextlib.suppress(TimeoutError):  # the trigger runs forever: stop it after `seconds`
        await asyncio.wait_for(collect(), timeout=seconds)
    return events


@pytest.fixture(scope="module")
def scratch(feeds) -> Iterator[str]:
    """A scratch node holding a short history of every feed, as the `chainlink_scratch` connection."""
    end = int(datetime.now(UTC).replace(minute=0, second=0, microsecond=0).timestamp())
    with scratch_chain(port=free_port()) as rpc:
        replayed(rpc, feeds, end)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_CHAINLINK_SCRATCH", json.dumps({"conn_type": "chainlink", "host": rpc.url}))
            yield rpc.url


@pytest.fixture
def proxies_latest(scratch, feeds) -> dict[str, list[str]]:
    """Each proxy's latest round, read with web3 (not the trigger's code)."""
    abi = contracts.build()["EACAggregatorProxy"]["abi"]
    w3 = Web3(Web3.HTTPProvider(scratch))
    latest = {}
    for feed in feeds:
        round_id, _, _, updated_at, _ = w3.eth.contract(feed.proxy, abi=abi).functions.latestRoundData().call()
        latest[feed.proxy] = [str(round_id), str(updated_at)]
    return latest


def test_quiet_while_nothing_changes_and_remembers_the_baseline(feeds, proxies_latest) -> None:
    trigger = NewRoundTrigger(
        chainlink_conn_id="chainlink_scratch", proxies=[f.proxy for f in feeds], poll_interval=0.2
    )
    trigger.asset_state_store = MemoryStateStore()
    assert asyncio.run(_events(trigger, 1.5)) == []
    remembered = trigger.asset_state_store.values["latest_rounds"]
    assert remembered == proxies_latest


def test_fires_for_a_round_newer_than_the_one_remembered(feeds, proxies_latest) -> None:
    """A triggerer restarted after a round was published: the stored round is older, so it fires once."""
    usdc = next(f.proxy for f in feeds if f.pair == "USDC/USD")
    round_id, updated_at = (int(v) for v in proxies_latest[usdc])
    remembered = dict(proxies_latest) | {usdc: [str(round_id - 1), str(updated_at - 3600)]}
    trigger = NewRoundTrigger(chainlink_conn_id="chainlink_scratch", proxies=list(proxies_latest), poll_interval=0.2)
    trigger.asset_state_store = MemoryStateStore({"latest_rounds": remembered})
    events = asyncio.run(_events(trigger, 1.5))
    assert len(events) == 1
    fired = events[0]["new_rounds"]
    assert fired == {usdc: proxies_latest[usdc]}
    assert trigger.asset_state_store.values["latest_rounds"] == proxies_latest


def test_fires_once_when_the_latest_round_outlives_heartbeat_and_grace(feeds, proxies_latest) -> None:
    usdc = next(f.proxy for f in feeds if f.pair == "USDC/USD")
    age = time.time() - int(proxies_latest[usdc][1])
    trigger = NewRoundTrigger(
        chainlink_conn_id="chainlink_scratch",
        proxies=list(proxies_latest),
        poll_interval=0.2,
        stale_after={usdc: int(age) - 60, "0x" + "33" * 20: 1},  # USDC a minute overdue; no such proxy
    )
    trigger.asset_state_store = MemoryStateStore({"latest_rounds": proxies_latest})
    events = asyncio.run(_events(trigger, 1.5))  # several polls: reported once
    assert [list(e) for e in events] == [["heartbeat_missed"]]
    assert list(events[0]["heartbeat_missed"]) == [usdc]
    assert trigger.asset_state_store.values["overdue_rounds"] == {usdc: events[0]["heartbeat_missed"][usdc][0]}


def test_fires_alive_after_a_quiet_spell_and_again_after_the_next(feeds, proxies_latest) -> None:
    """The dead-man's switch's pulse: nothing happens on chain, yet a run starts every `alive_every`."""
    trigger = NewRoundTrigger(
        chainlink_conn_id="chainlink_scratch", proxies=list(proxies_latest), poll_interval=0.2, alive_every=1.0
    )
    trigger.asset_state_store = MemoryStateStore({"latest_rounds": proxies_latest})
    events = asyncio.run(_events(trigger, 2.7))
    assert [list(e) for e in events] == [["alive"], ["alive"]]
    assert all(e["alive"]["quiet_seconds"] >= 1 for e in events)


def test_wakes_every_wake_every_while_a_variable_is_set_and_never_when_unset(
    feeds, proxies_latest, monkeypatch
) -> None:
    """Pages wait unsent (the alerts set the Variable): a run is started each `wake_every` so the
    next one sends them when the receiver is back; an unset Variable starts nothing."""
    watch = dict(chainlink_conn_id="chainlink_scratch", proxies=list(proxies_latest), poll_interval=0.2, wake_every=1.0)
    unset = NewRoundTrigger(**watch, wake_variables=["peg_test_unset"])
    unset.asset_state_store = MemoryStateStore({"latest_rounds": proxies_latest})
    assert asyncio.run(_events(unset, 1.6)) == []
    monkeypatch.setenv("AIRFLOW_VAR_PEG_TEST_UNSENT", '{"count": 2}')  # the env backend, as in a deployment
    waiting = NewRoundTrigger(**watch, wake_variables=["peg_test_unset", "peg_test_unsent"])
    waiting.asset_state_store = MemoryStateStore({"latest_rounds": proxies_latest})
    events = asyncio.run(_events(waiting, 2.7))
    assert events == [{"wake": ["peg_test_unsent"]}] * 2


def test_keeps_polling_when_a_poll_fails(scratch, proxies_latest, monkeypatch, capsys) -> None:
    """Every try of the first polls fails (HTTP 500, no retries left): each is logged, and the trigger
    keeps polling until the endpoint answers, then takes the baseline."""
    with faulty_rpc(scratch, failure_rate=0, fail_first=3) as (url, proxy):
        conn = {"conn_type": "chainlink", "host": url, "extra": {"max_retries": 0}}
        monkeypatch.setenv("AIRFLOW_CONN_CHAINLINK_FLAKY", json.dumps(conn))
        trigger = NewRoundTrigger(chainlink_conn_id="chainlink_flaky", proxies=list(proxies_latest), poll_interval=0.2)
        trigger.asset_state_store = MemoryStateStore()
        assert asyncio.run(_events(trigger, 2.5)) == []
    assert proxy.faults["http_500"] == 3 and proxy.seen > 3
    assert capsys.readouterr().out.count("failed, polling on") == 3  # the triggerer logs to stdout
    assert trigger.asset_state_store.values["latest_rounds"] == proxies_latest


def test_overdue_means_past_heartbeat_plus_grace_and_not_reported() -> None:
    latest = {"0xa": ["7", "1000"], "0xb": ["9", "1000"]}
    assert overdue_rounds(latest, {"0xa": 100, "0xb": 100}, {}, now=1100) == {}
    assert overdue_rounds(latest, {"0xa": 100, "0xb": 100}, {"0xb": "9"}, now=1101) == {"0xa": ["7", "1000"]}
    assert overdue_rounds(latest, {"0xa": 100}, {"0xa": "6"}, now=1101) == {"0xa": ["7", "1000"]}  # a newer round


def test_a_proxy_without_rounds_cannot_fire() -> None:
    proxies = ["0x" + "11" * 20, "0x" + "22" * 20]
    answers = [{"id": 0, "error": {"message": "execution reverted"}}, {"id": 1, "result": "0x"}]
    assert decode_latest_rounds(proxies, answers) == {}
    assert new_rounds({}, {}) == {}


def test_refuses_a_watch_without_proxies() -> None:
    with pytest.raises(ValueError, match="at least one proxy"):
        NewRoundTrigger(chainlink_conn_id="chainlink_scratch", proxies=[])
    with pytest.raises(ValueError, match="alive_every must be positive seconds, got 0"):
        NewRoundTrigger(chainlink_conn_id="chainlink_scratch", proxies=["0x" + "33" * 20], alive_every=0)
