"""ChainlinkHook: an Airflow connection to an EVM JSON-RPC endpoint, for reading Chainlink feeds.

Connection fields: host is the RPC URL, which may contain an `{api_key}` placeholder; password is
the API key (masked everywhere); extras: `fallback_urls` (list, same placeholder), `timeout`
(seconds), `batch_size` (calls per Multicall3 eth_call or per JSON-RPC batch), `max_calls_per_request`
(calls per HTTP request when Multicall3 is used), `max_retries`, `backoff_seconds` (first retry
delay, doubled each time), `use_multicall` (bool).

The hook owns the connection's JSON-RPC transport (`provider`, chainlink_feeds.transport): the
operator's reads go through its sync path, the triggerer's polls through `abatch`, its async path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.hook import BaseHook

from chainlink_feeds.abi import MULTICALL3, MULTICALL3_ADDRESS
from chainlink_feeds.errors import (
    HistoricalStateUnavailableError,
    RpcRejectedError,
    RpcUnavailableError,
    WrongChainError,
)
from chainlink_feeds.transport import FailoverHTTPProvider

if TYPE_CHECKING:
    from airflow.sdk import Connection

PLACEHOLDER = "{api_key}"


def _block_request(block: int) -> tuple[str, list[Any]]:
    return "eth_getBlockByNumber", [hex(block), False]


def _timestamps(blocks: Sequence[int], answers: list[dict[str, Any]]) -> dict[int, int]:
    """Timestamps of the blocks the node has (a block it does not have is left out)."""
    return {
        b: int(a["result"]["timestamp"], 16)
        for b, a in zip(blocks, answers, strict=True)
        if isinstance(a.get("result"), dict)
    }


def _reverted(error: Any) -> bool:
    """Whether a JSON-RPC error is the contract reverting (code 3, or "revert" in the message) rather
    than the node failing to serve the call."""
    return isinstance(error, dict) and (error.get("code") == 3 or "revert" in str(error.get("message", "")).lower())


class ChainlinkConnectionError(ValueError):
    """The Airflow connection is misconfigured; the message says which field to fix."""


@dataclass(frozen=True)
class RpcSettings:
    """The connection's settings, validated once when the hook reads them."""

    urls: tuple[str, ...]
    api_key: str | None
    timeout: float
    batch_size: int
    max_calls_per_request: int
    max_retries: int
    backoff_seconds: float
    use_multicall: bool

    @classmethod
    def from_connection(
        cls, conn_id: str, host: str | None, password: str | None, extra: dict[str, Any]
    ) -> RpcSettings:
        where = f"connection {conn_id!r}"
        if not host:
            raise ChainlinkConnectionError(f"{where}: set the RPC URL in the host field")
        fallbacks = extra.get("fallback_urls", [])
        if isinstance(fallbacks, str):
            fallbacks = [u.strip() for u in fallbacks.split(",") if u.strip()]
        urls = (host, *fallbacks)
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ChainlinkConnectionError(f"{where}: RPC URL must start with http:// or https://")
            if PLACEHOLDER in url and not password:
                raise ChainlinkConnectionError(f"{where}: a URL has {PLACEHOLDER} but the password (API key) is empty")
        if password and not any(PLACEHOLDER in url for url in urls):
            raise ChainlinkConnectionError(
                f"{where}: the password (API key) is set but no URL says where it goes; write {PLACEHOLDER} in the URL"
            )
        try:
            settings = cls(
                urls=tuple(url.replace(PLACEHOLDER, password or "") for url in urls),
                api_key=password or None,
                timeout=float(extra.get("timeout", 30)),
                batch_size=int(extra.get("batch_size", 200)),
                max_calls_per_request=int(extra.get("max_calls_per_request", 1000)),
                max_retries=int(extra.get("max_retries", 5)),
                backoff_seconds=float(extra.get("backoff_seconds", 0.5)),
                use_multicall=str(extra.get("use_multicall", True)).lower() not in ("false", "0", "no"),
            )
        except (TypeError, ValueError) as exc:
            raise ChainlinkConnectionError(f"{where}: timeout, batch_size and max_retries must be numbers") from exc
        if (
            settings.timeout <= 0
            or min(settings.batch_size, settings.max_calls_per_request) < 1
            or settings.max_retries < 0
        ):
            raise ChainlinkConnectionError(f"{where}: timeout and batch_size must be positive, max_retries >= 0")
        return settings

    def redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


class ChainlinkHook(BaseHook):
    """Reads contracts on one chain through a failover JSON-RPC provider, in batches."""

    conn_name_attr = "chainlink_conn_id"
    default_conn_name = "chainlink_ethereum"
    conn_type = "chainlink"
    hook_name = "Chainlink (EVM JSON-RPC)"

    def __init__(self, chainlink_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chainlink_conn_id = chainlink_conn_id
        self._multicall_available: bool | None = None
        self._multicall_since: int | None = None  # the earliest block seen with Multicall3 deployed
        self._multicall_absent_at: int | None = None  # the latest block seen without it

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"host": "RPC URL (may contain {api_key})", "password": "API key"},
            "placeholders": {
                "host": "https://eth-mainnet.example.com/v2/{api_key}",
                "extra": '{"fallback_urls": ["https://..."], "timeout": 30, "batch_size": 200, "max_retries": 5}',
            },
        }

    @cached_property
    def settings(self) -> RpcSettings:
        settings = self._settings_of(self.get_connection(self.chainlink_conn_id))
        if settings.api_key:
            from airflow.sdk.log import mask_secret

            mask_secret(settings.api_key)
        return settings

    async def asettings(self) -> RpcSettings:
        """`settings`, read without blocking an event loop (the triggerer's)."""
        if "settings" not in self.__dict__:
            settings = self._settings_of(await self.aget_connection(self.chainlink_conn_id))
            if settings.api_key:
                from airflow.sdk.log import amask_secret

                await amask_secret(settings.api_key)
            self.__dict__["settings"] = settings
        return self.settings

    def _settings_of(self, conn: Connection) -> RpcSettings:
        return RpcSettings.from_connection(self.chainlink_conn_id, conn.host, conn.password, conn.extra_dejson)

    @cached_property
    def provider(self) -> FailoverHTTPProvider:
        """The connection's JSON-RPC transport (sync and async), shared by every read of this hook."""
        s = self.settings
        return FailoverHTTPProvider(
            list(s.urls),
            timeout=s.timeout,
            max_retries=s.max_retries,
            backoff_seconds=s.backoff_seconds,
            redact=s.redact,
        )

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self.provider.requests_made

    @property
    def calls_made(self) -> int:
        """JSON-RPC calls sent so far (eth_call, eth_getBlockByNumber, ...), retries included."""
        return self.provider.calls_made

    def _rpc(self, method: str, params: list[Any]) -> Any:
        answer = self.provider.make_request(method, params)
        if "error" in answer:
            raise RpcRejectedError(f"{method} failed: {self.settings.redact(str(answer['error']))}")
        return answer["result"]

    def chain_id(self) -> int:
        return int(self._rpc("eth_chainId", []), 16)

    def check_chain(self, expected_chain_id: int) -> None:
        """Fail fast if the endpoint serves another chain."""
        self._check_chain_answer(self.provider.make_request("eth_chainId", []), expected_chain_id)

    def pinned_block(self) -> int:
        """The latest block number, at which a whole read is done."""
        return int(self._rpc("eth_blockNumber", []), 16)

    def _aggregate3_request(self, calls: list[tuple[str, bytes]], block: int | str) -> tuple[str, list[Any]]:
        data = MULTICALL3["aggregate3"].encode([(address, True, calldata) for address, calldata in calls])
        block_tag = hex(block) if isinstance(block, int) else block
        return "eth_call", [{"to": MULTICALL3_ADDRESS, "data": "0x" + data.hex()}, block_tag]

    def _decode_aggregate3(self, answer: dict[str, Any]) -> list[bytes | None]:
        if "error" in answer:
            raise RpcRejectedError(f"Multicall3 aggregate3 failed: {self.settings.redact(str(answer['error']))}")
        (pairs,) = MULTICALL3["aggregate3"].decode(bytes.fromhex(answer["result"][2:]))
        return [data if ok else None for ok, data in pairs]

    def snapshot(
        self, calls: list[tuple[str, bytes]], expected_chain_id: int, stamp_blocks: Sequence[int] = ()
    ) -> tuple[int, list[bytes | None], dict[int, int]]:
        """Check the chain and run `calls` on the latest block; return that block (to pin later reads
        to), the answers, and the timestamps of `stamp_blocks` that exist (to check cached facts).

        With Multicall3 this is one HTTP request: eth_chainId, one aggregate3 that also asks
        Multicall3 for the block number it ran at, and an eth_getBlockByNumber per stamp block.
        """
        stamp_requests = [_block_request(b) for b in stamp_blocks]
        if self.settings.use_multicall:
            get_block = (MULTICALL3_ADDRESS, MULTICALL3["getBlockNumber"].encode())
            chain_answer, call_answer, *stamp_answers = self.provider.make_batch_request(
                [("eth_chainId", []), self._aggregate3_request([*calls, get_block], "latest"), *stamp_requests]
            )
            self._check_chain_answer(chain_answer, expected_chain_id)
            stamps = _timestamps(stamp_blocks, stamp_answers)
            if call_answer.get("result") not in (None, "0x"):  # "0x": no Multicall3 on this chain
                self._multicall_available = True
                *results, block_data = self._decode_aggregate3(call_answer)
                return MULTICALL3["getBlockNumber"].decode(block_data)[0], results, stamps
            self._multicall_available = False
        else:
            self.check_chain(expected_chain_id)
            stamps = _timestamps(stamp_blocks, self.provider.make_batch_request(stamp_requests)) if stamp_blocks else {}
        block = self.pinned_block()
        return block, self.call_many(calls, block), stamps

    def call_many(self, calls: list[tuple[str, bytes]], block: int) -> list[bytes | None]:
        """eth_call every (address, calldata) at `block`; a reverting call answers None, not an error.

        Multicall3 `aggregate3` with failures allowed where it is deployed (batch_size calls per
        eth_call, up to max_calls_per_request calls per HTTP request), else JSON-RPC batches of
        batch_size eth_calls.
        """
        s = self.settings
        results: list[bytes | None] = []
        if self._multicall_available is None:
            self._multicall_available = s.use_multicall and self._rpc(
                "eth_getCode", [MULTICALL3_ADDRESS, hex(block)]
            ) not in ("0x", None)
        if self._multicall_available:
            for i in range(0, len(calls), s.max_calls_per_request):
                request = calls[i : i + s.max_calls_per_request]
                chunks = [request[j : j + s.batch_size] for j in range(0, len(request), s.batch_size)]
                for answer in self.provider.make_batch_request([self._aggregate3_request(c, block) for c in chunks]):
                    results.extend(self._decode_aggregate3(answer))
            return results
        for i in range(0, len(calls), s.batch_size):
            answers = self.provider.make_batch_request(
                [("eth_call", [{"to": a, "data": "0x" + d.hex()}, hex(block)]) for a, d in calls[i : i + s.batch_size]]
            )
            results.extend(bytes.fromhex(a["result"][2:]) if "result" in a else None for a in answers)
        return results

    def call_at_blocks(self, calls: list[tuple[str, bytes, int]], reverts: bool = False) -> list[bytes | None]:
        """eth_call every (address, calldata, block). With `reverts`, a call the contract reverts
        answers None; any other error answer means the node cannot serve that past state.

        At blocks where Multicall3 is deployed, one `aggregate3` per block runs that block's calls
        together: a node loads each past state once, not once per call (the pools' hourly readings:
        12 calls a block; the switch search: every proxy of a chain). Before it (mainnet's dates from
        March 2022), JSON-RPC batches of batch_size eth_calls (Multicall3 runs at one block only).
        """
        since = self.multicall_from(sorted({b for _, _, b in calls}))
        together = [i for i, (_, _, b) in enumerate(calls) if since is not None and b >= since]
        alone = sorted(set(range(len(calls))) - set(together))
        results: list[bytes | None] = [None] * len(calls)
        for indices, read in ((alone, self._eth_calls_at_blocks), (together, self._aggregate_at_blocks)):
            for i, answer in zip(indices, read([calls[i] for i in indices], reverts) if indices else [], strict=True):
                results[i] = answer
        return results

    def _eth_calls_at_blocks(self, calls: list[tuple[str, bytes, int]], reverts: bool) -> list[bytes | None]:
        """`call_at_blocks` as plain eth_calls, batch_size to an HTTP request."""
        results: list[bytes | None] = []
        for i in range(0, len(calls), self.settings.batch_size):
            chunk = calls[i : i + self.settings.batch_size]
            answers = self.provider.make_batch_request(
                [("eth_call", [{"to": a, "data": "0x" + d.hex()}, hex(b)]) for a, d, b in chunk]
            )
            for (_, _, block), answer in zip(chunk, answers, strict=True):
                if "error" in answer and reverts and _reverted(answer["error"]):
                    results.append(None)
                elif "error" in answer:
                    raise HistoricalStateUnavailableError(
                        f"eth_call at block {block} failed: {self.settings.redact(str(answer['error']))}"
                    )
                else:
                    results.append(bytes.fromhex(answer["result"][2:]))
        return results

    def multicall_from(self, blocks: list[int]) -> int | None:
        """The first of the (sorted) blocks at which Multicall3 has code, where `call_at_blocks` runs
        a block's calls as one eth_call (None: none of them)."""
        first = self._first_with_multicall(blocks)
        return blocks[first] if first < len(blocks) else None

    def _first_with_multicall(self, blocks: list[int]) -> int:
        """The index of the first of the (sorted) blocks at which Multicall3 has code (len(blocks):
        none). It never leaves once deployed, so the earliest unknown block is asked first, then the
        latest, then (a request across its deployment) the blocks between by bisection; what was
        learnt is kept for the hook's later requests."""
        if not self.settings.use_multicall or self._multicall_available is False:  # none at the head either
            return len(blocks)
        absent, since = self._multicall_absent_at, self._multicall_since
        lo = sum(1 for b in blocks if absent is not None and b <= absent)  # blocks[:lo] lack it
        hi = next(
            (i for i, b in enumerate(blocks) if since is not None and b >= since), len(blocks)
        )  # blocks[hi:] have it
        if lo == hi or self._has_multicall(blocks[lo]):
            return lo
        lo += 1
        if lo == hi or not self._has_multicall(blocks[hi - 1]):
            return hi
        hi -= 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._has_multicall(blocks[mid]):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _has_multicall(self, block: int) -> bool:
        """Whether Multicall3 has code at `block`, remembered; a node that cannot say is taken as no
        (the plain eth_calls then report what it cannot serve)."""
        try:
            present = self._rpc("eth_getCode", [MULTICALL3_ADDRESS, hex(block)]) not in ("0x", None)
        except RpcRejectedError:
            present = False
        if present:
            self._multicall_since = block if self._multicall_since is None else min(block, self._multicall_since)
        else:
            self._multicall_absent_at = (
                block if self._multicall_absent_at is None else max(block, self._multicall_absent_at)
            )
        return present

    def _aggregate_at_blocks(self, calls: list[tuple[str, bytes, int]], reverts: bool) -> list[bytes | None]:
        """`call_at_blocks` through one aggregate3 per block (batch_size calls each), up to
        max_calls_per_request calls and batch_size eth_calls per HTTP request."""
        s = self.settings
        by_block: dict[int, list[int]] = {}
        for i, (_, _, block) in enumerate(calls):
            by_block.setdefault(block, []).append(i)
        size = min(s.batch_size, s.max_calls_per_request)
        chunks = [
            (block, indices[j : j + size]) for block, indices in by_block.items() for j in range(0, len(indices), size)
        ]
        requests: list[list[tuple[int, list[int]]]] = [[]]
        in_request = 0  # calls in the last request
        for block, indices in chunks:
            if requests[-1] and (
                len(requests[-1]) >= s.batch_size or in_request + len(indices) > s.max_calls_per_request
            ):
                requests.append([])
                in_request = 0
            requests[-1].append((block, indices))
            in_request += len(indices)
        results: list[bytes | None] = [None] * len(calls)
        for request in requests:
            answers = self.provider.make_batch_request(
                [self._aggregate3_request([calls[i][:2] for i in indices], block) for block, indices in request]
            )
            for (block, indices), answer in zip(request, answers, strict=True):
                if "error" in answer:
                    raise HistoricalStateUnavailableError(
                        f"eth_call at block {block} failed: {self.settings.redact(str(answer['error']))}"
                    )
                for i, data in zip(indices, self._decode_aggregate3(answer), strict=True):
                    if data is None and not reverts:
                        raise HistoricalStateUnavailableError(
                            f"eth_call to {calls[i][0]} at block {block} reverted, where it must answer"
                        )
                    results[i] = data
        return results

    def block_timestamps(self, blocks: list[int]) -> dict[int, int]:
        """Each block's timestamp (Unix seconds), in one batch; a block the node lacks is an error."""
        stamps = _timestamps(blocks, self.provider.make_batch_request([_block_request(b) for b in blocks]))
        missing = [b for b in blocks if b not in stamps]
        if missing:
            raise RpcRejectedError(f"the node has no block {missing[0]} (eth_getBlockByNumber answered no block)")
        return stamps

    def _check_chain_answer(self, answer: dict[str, Any], expected_chain_id: int) -> None:
        if "error" in answer:
            raise RpcRejectedError(f"eth_chainId failed: {self.settings.redact(str(answer['error']))}")
        actual = int(answer["result"], 16)
        if actual != expected_chain_id:
            raise WrongChainError(
                f"connection {self.chainlink_conn_id!r} ({self.provider.current_url}) serves chain id {actual}, "
                f"but the feed is on chain id {expected_chain_id}"
            )

    def test_connection(self) -> tuple[bool, str]:
        """For the Airflow UI's Test button: reach the endpoint and report its chain and head."""
        try:
            chain_id, block = self.chain_id(), self.pinned_block()
        except (RpcUnavailableError, RpcRejectedError, ChainlinkConnectionError) as exc:
            return False, str(exc)
        return True, f"Connected to {self.provider.current_url}: chain id {chain_id}, block {block}"

    async def abatch(self, requests: list[tuple[str, Any]], *, budget: float | None = None) -> list[dict[str, Any]]:
        """One JSON-RPC batch of (method, params) from an event loop, answers in request order; the
        transport's retries and failover end within `budget` seconds (if given)."""
        await self.asettings()
        return await self.provider.amake_batch_request(requests, budget=budget)

    async def aclose(self) -> None:
        """Close the async path's connections."""
        if "provider" in self.__dict__:
            await self.provider.aclose()
