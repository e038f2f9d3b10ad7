"""One exception class per failure of a pool read the caller can act on."""

from __future__ import annotations


class PoolReadError(Exception):
    """Base class of the package's errors."""


class NotAPoolError(PoolReadError):
    """The configured address holds no code, or does not answer as a Uniswap v3 pool."""


class PoolMismatchError(PoolReadError):
    """The pool answers, but not as the registry says (token0, token1, fee, a token's decimals)."""


class LogRangeError(PoolReadError):
    """The provider refuses a log query even for a single block."""
