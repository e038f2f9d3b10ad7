"""FailoverHTTPProvider: its sync path (web3, the hook) and its async path (the triggerer) ride out the
same faults, fail fast on the same refusals, count alike, and the async path's retries end within
the budget it is given."""

from __future__ import annotations

import asyncio
import time

import pytest

from chainlink_feeds.errors import RpcRejectedError, RpcUnavailableError
from chainlink_feeds.transport import FailoverHTTPProvider
from devstack.settings import ANVIL_URL
from tests.support.faulty_rpc import faulty_rpc

BATCH = [("eth_chainId", []), ("eth_chainId", []), ("eth_chainId", [])]
SECRET = "sk_live_transport_key_77"


def _results(answers: list[dict]) -> list:
    return [a.get("result") for a in answers]


def test_both_paths_ride_out_faults_and_count_every_request(stack) -> None:
    clean = _results(FailoverHTTPProvider([ANVIL_URL]).make_batch_request(BATCH))
    assert clean == ["0x1"] * 3
    with faulty_rpc(ANVIL_URL, failure_rate=0.4, stall=0.6, seed=11) as (url, proxy):
        sync = FailoverHTTPProvider([url], timeout=0.3, max_retries=30, backoff_seconds=0.01)
        assert [_results(sync.make_batch_request(BATCH)) for _ in range(8)] == [clean] * 8
        sync_seen = proxy.seen
        asynchronous = FailoverHTTPProvider([url], timeout=0.3, max_retries=30, backoff_seconds=0.01)

        async def polls() -> list:
            try:
                return [_results(await asynchronous.amake_batch_request(BATCH)) for _ in range(8)]
            finally:
                await asynchronous.aclose()

        assert asyncio.run(polls()) == [clean] * 8
    assert sum(proxy.faults.values()) >= 3, proxy.faults
    for provider, seen in ((sync, sync_seen), (asynchronous, proxy.seen - sync_seen)):
        assert provider.requests_made >= seen > 8  # retries counted
        assert provider.calls_made == 3 * provider.requests_made


def test_both_paths_fail_fast_on_a_refusal_without_showing_the_key(stack) -> None:
    with faulty_rpc(ANVIL_URL, failure_rate=0, required_path="/v2/right_key") as (url, proxy):
        provider = FailoverHTTPProvider(
            [f"{url}/v2/{SECRET}"], max_retries=5, redact=lambda text: text.replace(SECRET, "***")
        )
        with pytest.raises(RpcRejectedError, match="HTTP 401") as sync_raised:
            provider.make_request("eth_chainId", [])
        with pytest.raises(RpcRejectedError, match="HTTP 401") as async_raised:
            asyncio.run(provider.amake_request("eth_chainId", []))
    assert proxy.seen == 2  # one request each, not retried
    for raised in (sync_raised, async_raised):
        assert SECRET not in str(raised.value) and "/v2/***" in str(raised.value)


def test_the_async_path_gives_up_within_its_budget_and_fails_over() -> None:
    provider = FailoverHTTPProvider(
        ["http://127.0.0.1:9", "http://127.0.0.1:10"], max_retries=1000, backoff_seconds=0.05
    )
    started = time.monotonic()
    with pytest.raises(RpcUnavailableError, match="RPC failed .* times across 2 endpoint"):
        asyncio.run(provider.amake_batch_request(BATCH, budget=1.0))
    assert time.monotonic() - started < 2.0
    assert 2 <= provider.requests_made < 1000


def test_the_environments_http_proxy_carries_the_sync_path(stack, monkeypatch) -> None:
    """A node reachable only through the HTTP proxy the environment names (as behind a corporate
    proxy): requests go through it. The provider reads the environment once per endpoint, when it
    is made, not on every request (the async path's httpx client reads it once too)."""
    node = "http://node.invalid:8545/"  # resolves nowhere: only the proxy can reach it
    with faulty_rpc(ANVIL_URL, failure_rate=0, required_path=node) as (url, proxy):
        for name in ("ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, url)
        for name in ("NO_PROXY", "no_proxy"):  # the proxy's own requests to the node go direct
            monkeypatch.setenv(name, "127.0.0.1,localhost")
        provider = FailoverHTTPProvider([node], max_retries=0)
        assert [_results([provider.make_request("eth_chainId", [])]) for _ in range(2)] == [["0x1"]] * 2
    assert proxy.seen == 2  # a forward proxy's absolute-URI requests, both answered
