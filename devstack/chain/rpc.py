"""JSON-RPC to the local node, on the plugin's transport (`chainlink_feeds.transport`).

The stack reads and writes its node through the same HTTP client the pipeline reads mainnet
with; this adds what the stack's callers want: a result or a ChainError, and a Web3 on it.
Nothing is retried: a retried `evm_mine` or storage write could land twice.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from chainlink_feeds.errors import RpcRejectedError, RpcUnavailableError
from chainlink_feeds.transport import FailoverHTTPProvider
from devstack.settings import ANVIL_URL

TIMEOUT_SECONDS = 120  # a replay's batches of storage writes are large


class ChainError(RuntimeError):
    """The local node is missing, unreachable or holds something unexpected."""


class Rpc:
    """The node at `url`: single calls and batches (whose calls may run in any order)."""

    def __init__(self, url: str = ANVIL_URL) -> None:
        self.url = url
        self.provider = FailoverHTTPProvider([url], timeout=TIMEOUT_SECONDS, max_retries=0)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of `calls`, in order; ChainError if any of them failed."""
        if not calls:
            return []
        answers = self._send(lambda: self.provider.make_batch_request(calls))
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise ChainError(f"{len(errors)} of {len(calls)} calls failed, first: {errors[0]}")
        return [a["result"] for a in answers]

    def call(self, method: str, *params: Any) -> Any:
        answer = self._send(lambda: self.provider.make_request(method, list(params)))
        if "error" in answer:
            raise ChainError(f"1 of 1 calls failed, first: {answer['error']}")
        return answer["result"]

    def web3(self) -> Web3:
        """A Web3 on the same transport, for contract calls."""
        return Web3(self.provider)

    def _send(self, request: Any) -> Any:
        try:
            return request()
        except (RpcUnavailableError, RpcRejectedError) as exc:
            raise ChainError(f"the node at {self.url} did not answer: {exc}") from exc
