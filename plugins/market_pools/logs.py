"""A range of blocks' Swap logs of several pools, in as few `eth_getLogs` calls as the provider allows.

Providers cap a log query by block span or by result count and answer an error when it is exceeded;
the range is then split in halves until each part is accepted. The messages they use are collected
in TOO_LARGE; any other error is not a size problem and is raised as is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chainlink_feeds.errors import RpcRejectedError
from market_pools.abi import SWAP_TOPIC
from market_pools.errors import LogRangeError

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook

MAX_BLOCK_SPAN = 10_000  # blocks per query before any refusal (a common provider cap)
# How providers say a log query is too large (Alchemy, Infura, QuickNode, Ankr, geth, erigon, anvil).
TOO_LARGE = re.compile(
    r"more than \d+ results|query returned more than|block range|range is too (large|wide)|too many (blocks|logs|results)"
    r"|exceed(s|ed)? .*(limit|range)|limit exceeded|response size",
    re.IGNORECASE,
)


def swap_logs(hook: ChainlinkHook, pools: list[str], first: int, last: int) -> list[dict[str, Any]]:
    """Every Swap log of `pools` in blocks first..last (inclusive), in chain order."""
    found: list[dict[str, Any]] = []
    pending = [(lo, min(lo + MAX_BLOCK_SPAN - 1, last)) for lo in range(first, last + 1, MAX_BLOCK_SPAN)]
    while pending:
        lo, hi = pending.pop(0)
        answer = hook.provider.make_request(
            "eth_getLogs", [{"address": pools, "topics": [SWAP_TOPIC], "fromBlock": hex(lo), "toBlock": hex(hi)}]
        )
        if "error" not in answer:
            found += answer["result"]
            continue
        message = str(answer["error"])
        if not TOO_LARGE.search(message):
            raise RpcRejectedError(f"eth_getLogs of blocks {lo}..{hi} failed: {hook.settings.redact(message)}")
        if lo == hi:
            raise LogRangeError(
                f"the provider refuses the Swap logs of block {lo} alone ({hook.settings.redact(message)}); "
                "use a provider with a higher log limit"
            )
        middle = (lo + hi) // 2
        pending[:0] = [(lo, middle), (middle + 1, hi)]
    return sorted(found, key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
