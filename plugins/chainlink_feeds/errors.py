"""One exception class per failure a caller can act on."""

from __future__ import annotations


class ChainlinkError(Exception):
    """Base class of the package's errors."""


class RpcUnavailableError(ChainlinkError):
    """Every RPC endpoint kept failing with transient faults after all retries (retry later)."""


class RpcRejectedError(ChainlinkError):
    """The endpoint refused the request in a way retrying cannot fix (bad key, bad request)."""


class WrongChainError(ChainlinkError):
    """The endpoint serves another chain than the feed lives on."""


class NotAFeedError(ChainlinkError):
    """The configured address holds no Chainlink proxy (no code, or calls revert)."""


class FeedMismatchError(ChainlinkError):
    """The proxy answers, but not as the registry says (decimals, description, ABI)."""


class HistoricalStateUnavailableError(ChainlinkError):
    """The node cannot answer calls at past blocks (not an archive node); pin the activation instead."""


class PhaseActivationError(ChainlinkError):
    """The registry's pinned phase activations disagree with the proxy (a phase it never reached)."""
