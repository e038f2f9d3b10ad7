"""A web3 HTTP provider that retries transient faults with backoff and fails over between URLs.

It counts every HTTP request it makes and the JSON-RPC calls in them (retries included), so callers can report RPC cost, and
never lets an API key reach a message: URLs are redacted before they are logged or raised.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import requests
from web3.providers.base import JSONBaseProvider

from chainlink_feeds.errors import RpcRejectedError, RpcUnavailableError

log = logging.getLogger(__name__)

# JSON-RPC error codes providers use for rate limits and overload (retried like HTTP 429/5xx).
TRANSIENT_RPC_CODES = {-32005, -32603, 429}


class _TransientFault(Exception):
    """A fault worth retrying (timeout, reset, 429, 5xx, garbage JSON)."""


class FailoverHTTPProvider(JSONBaseProvider):
    """JSON-RPC over HTTP with retries, exponential backoff and fallback endpoints."""

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

    @property
    def current_url(self) -> str:
        """The endpoint in use, redacted."""
        return self.redact(self.urls[self._current])

    def _post_once(self, url: str, payload: bytes, expect_batch: int | None) -> Any:
        self.requests_made += 1
        self.calls_made += expect_batch or 1
        try:
            response = self._session.post(
                url, data=payload, headers={"Content-Type": "application/json"}, timeout=self.timeout
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _TransientFault(type(exc).__name__) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _TransientFault(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RpcRejectedError(
                f"{self.redact(url)} refused the request with HTTP {response.status_code}: "
                f"{self.redact(response.text[:200])} (check the connection's URL and API key)"
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

    def _post(self, payload: bytes, expect_batch: int | None = None) -> Any:
        """POST with retries; after a transient fault the next attempt goes to the next URL."""
        fault = ""
        for attempt in range(self.max_retries + 1):
            url = self.urls[self._current]
            try:
                return self._post_once(url, payload, expect_batch)
            except _TransientFault as exc:
                fault = str(exc)
            if len(self.urls) > 1:
                self._current = (self._current + 1) % len(self.urls)
            if attempt < self.max_retries:
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "RPC request to %s failed (%s); retry %s of %s in %.1fs via %s",
                    self.redact(url),
                    self.redact(fault),
                    attempt + 1,
                    self.max_retries,
                    delay,
                    self.current_url,
                )
                time.sleep(delay)
        raise RpcUnavailableError(
            f"RPC failed {self.max_retries + 1} times across {len(self.urls)} endpoint(s); last fault: "
            f"{self.redact(fault)}"
        )

    def make_request(self, method: str, params: Any) -> dict[str, Any]:
        return self._post(self.encode_rpc_request(method, params))

    def make_batch_request(self, batch_requests: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Send one batch; answers come back in request order, each with its own result or error."""
        answers = self._post(self.encode_batch_rpc_request(batch_requests), expect_batch=len(batch_requests))
        return sorted(answers, key=lambda item: item.get("id", 0))

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            return "result" in self.make_request("web3_clientVersion", [])
        except (RpcUnavailableError, RpcRejectedError):
            if show_traceback:
                raise
            return False
