"""The one JSON-RPC transport: single calls and batches over HTTP, with retries, exponential backoff
and failover between URLs, from synchronous code (web3, the hook) and from an event loop (the
triggerer).

Both paths share everything but the HTTP client and the way they wait: what a fault worth retrying
is (HTTP 429/5xx, timeouts, resets, garbage JSON, JSON-RPC codes in TRANSIENT_RPC_CODES), which URL
is tried next, how long to wait and when to give up. It counts every HTTP request it makes and the
JSON-RPC calls in them (retries included), so callers can report RPC cost, and never lets an API
key reach a message: URLs are redacted before they are logged or raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import requests
from web3.providers.base import JSONBaseProvider

from chainlink_feeds.errors import RpcRejectedError, RpcUnavailableError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# JSON-RPC error codes providers use for rate limits and overload (retried like HTTP 429/5xx).
TRANSIENT_RPC_CODES = {-32005, -32603, 429}
_HEADERS = {"Content-Type": "application/json"}


class _TransientFault(Exception):
    """A fault worth retrying (timeout, reset, 429, 5xx, garbage JSON)."""


class _Response(Protocol):
    """What both HTTP clients' responses (requests, httpx) have."""

    status_code: int
    text: str
    content: bytes


class _Tries:
    """One request's attempts: the URL to use, each attempt's timeout, the wait after a fault, and
    when to give up (after `max_retries` retries, or when the next try would start past `budget`)."""

    def __init__(
        self, transport: FailoverHTTPProvider, expect_batch: int | None, max_retries: int, budget: float | None
    ) -> None:
        self.transport = transport
        self.expect_batch = expect_batch
        self.max_retries = max_retries
        self.deadline = None if budget is None else time.monotonic() + budget
        self.attempt = 0
        self.url = ""

    def start(self) -> str:
        """Count an attempt and return the URL it goes to."""
        t = self.transport
        t.requests_made += 1
        t.calls_made += self.expect_batch or 1
        self.url = t.urls[t._current]
        return self.url

    def timeout(self) -> float:
        if self.deadline is None:
            return self.transport.timeout
        return max(0.01, min(self.transport.timeout, self.deadline - time.monotonic()))

    def check(self, response: _Response) -> Any:
        """The JSON-RPC answer in an HTTP response; raises _TransientFault for one worth retrying."""
        return _answer(self.url, response, self.expect_batch, self.transport.redact)

    def wait_after(self, fault: _TransientFault) -> float:
        """Move on to the next URL and return how long to wait before trying it; raise
        RpcUnavailableError when no try is left."""
        t = self.transport
        if len(t.urls) > 1:
            t._current = (t._current + 1) % len(t.urls)
        delay = min(t.max_backoff_seconds, t.backoff_seconds * 2**self.attempt) * random.uniform(0.5, 1.0)
        out_of_time = self.deadline is not None and time.monotonic() + delay >= self.deadline
        if self.attempt >= self.max_retries or out_of_time:
            raise RpcUnavailableError(
                f"RPC failed {self.attempt + 1} times across {len(t.urls)} endpoint(s); last fault: {t.redact(str(fault))}"
            )
        self.attempt += 1
        log.warning(
            "RPC request to %s failed (%s); retry %s of %s in %.1fs via %s",
            t.redact(self.url),
            t.redact(str(fault)),
            self.attempt,
            self.max_retries,
            delay,
            t.current_url,
        )
        return delay


def _answer(url: str, response: _Response, expect_batch: int | None, redact: Callable[[str], str]) -> Any:
    """Classify an HTTP response: the JSON-RPC body, a _TransientFault, or RpcRejectedError (4xx)."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise _TransientFault(f"HTTP {status}")
    if status >= 400:
        raise RpcRejectedError(
            f"{redact(url)} refused the request with HTTP {status}: "
            f"{redact(response.text[:200])} (check the connection's URL and API key)"
        )
    try:
        body = json.loads(response.content)
    except ValueError:
        raise _TransientFault("malformed JSON in the response") from None
    items = body if isinstance(body, list) else [body]
    if expect_batch is not None and (not isinstance(body, list) or len(body) != expect_batch):
        raise _TransientFault(f"batch answer has {len(items)} items, expected {expect_batch}")
    for item in items:
        if not isinstance(item, dict) or ("result" not in item and "error" not in item):
            raise _TransientFault("response is not JSON-RPC")
        error = item.get("error")
        if isinstance(error, dict) and error.get("code") in TRANSIENT_RPC_CODES:
            raise _TransientFault(f"JSON-RPC error {error.get('code')}: {error.get('message')}")
    return body


def _in_order(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A batch's answers in request order (ids grow with each request)."""
    return sorted(answers, key=lambda item: item.get("id", 0))


def _environment_settings(session: requests.Session, url: str) -> dict[str, Any]:
    """What requests takes from the environment for `url` (proxies, CA bundle, netrc credentials)."""
    settings = session.merge_environment_settings(url, {}, None, None, None)
    auth = requests.utils.get_netrc_auth(url)
    return settings | ({"auth": auth} if auth else {})


class FailoverHTTPProvider(JSONBaseProvider):
    """JSON-RPC over HTTP with retries, exponential backoff and fallback endpoints; a web3 provider
    (`make_request`, `make_batch_request`) with async twins (`amake_request`, `amake_batch_request`)."""

    def __init__(
        self,
        urls: list[str],
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 10.0,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        super().__init__()
        if not urls:
            raise ValueError("at least one RPC URL is required")
        self.urls = urls
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.redact = redact
        self.requests_made = 0
        self.calls_made = 0  # JSON-RPC calls inside those requests (a Multicall3 eth_call counts once)
        self._current = 0
        self._session = requests.Session()
        # The environment's proxies, CA bundle and netrc credentials for each endpoint, read once:
        # requests would scan os.environ again for every request (17 s of the stack's 193 s history
        # replay, 15,379 requests), and a provider lives for a task or a poll loop.
        self._environment = {url: _environment_settings(self._session, url) for url in urls}
        self._session.trust_env = False
        self._async_client: httpx.AsyncClient | None = None

    @property
    def current_url(self) -> str:
        """The endpoint in use, redacted."""
        return self.redact(self.urls[self._current])

    # -- sync: web3 and the hook -------------------------------------------------------------

    def _http_post(self, url: str, payload: bytes, timeout: float) -> _Response:
        try:
            return self._session.post(url, data=payload, headers=_HEADERS, timeout=timeout, **self._environment[url])
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _TransientFault(type(exc).__name__) from None

    def _post(self, payload: bytes, expect_batch: int | None = None) -> Any:
        """POST with retries; after a transient fault the next attempt goes to the next URL."""
        tries = _Tries(self, expect_batch, self.max_retries, budget=None)
        while True:
            try:
                return tries.check(self._http_post(tries.start(), payload, tries.timeout()))
            except _TransientFault as fault:
                time.sleep(tries.wait_after(fault))

    def make_request(self, method: str, params: Any) -> dict[str, Any]:
        return self._post(self.encode_rpc_request(method, params))

    def make_batch_request(self, batch_requests: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Send one batch; answers come back in request order, each with its own result or error."""
        return _in_order(self._post(self.encode_batch_rpc_request(batch_requests), expect_batch=len(batch_requests)))

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            return "result" in self.make_request("web3_clientVersion", [])
        except (RpcUnavailableError, RpcRejectedError):
            if show_traceback:
                raise
            return False

    # -- async: the triggerer's event loop (never blocks it: httpx, asyncio.sleep) ----------

    async def _ahttp_post(self, url: str, payload: bytes, timeout: float) -> _Response:
        import httpx

        if self._async_client is None:
            self._async_client = httpx.AsyncClient()
        try:
            return await self._async_client.post(url, content=payload, headers=_HEADERS, timeout=timeout)
        except httpx.TransportError as exc:  # timeouts, refused and reset connections, broken answers
            raise _TransientFault(type(exc).__name__) from None

    async def _apost(self, payload: bytes, expect_batch: int | None, budget: float | None) -> Any:
        """POST from an event loop with the sync path's retries, ended early when `budget` seconds
        (if given) would be exceeded: each attempt's timeout and wait fit in what is left."""
        tries = _Tries(self, expect_batch, self.max_retries, budget)
        while True:
            try:
                return tries.check(await self._ahttp_post(tries.start(), payload, tries.timeout()))
            except _TransientFault as fault:
                await asyncio.sleep(tries.wait_after(fault))

    async def amake_request(self, method: str, params: Any, *, budget: float | None = None) -> dict[str, Any]:
        return await self._apost(self.encode_rpc_request(method, params), None, budget)

    async def amake_batch_request(
        self, batch_requests: list[tuple[str, Any]], *, budget: float | None = None
    ) -> list[dict[str, Any]]:
        """make_batch_request from an event loop, giving up within `budget` seconds if given."""
        payload = self.encode_batch_rpc_request(batch_requests)
        return _in_order(await self._apost(payload, len(batch_requests), budget))

    async def aclose(self) -> None:
        """Close the async path's connections (the sync path's session lives with the provider)."""
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None
