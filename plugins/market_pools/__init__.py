"""The on-chain market beside the oracle: Uniswap v3 pools read exactly, window by window.

`pricing` (TickMath and the pool's price, TWAP and sized-quote maths), `blocks` (UTC times to block
numbers), `logs` (Swap logs, split when a provider refuses a range), `reader` (a window's price path
and readings of every pool of a chain), `store` (the raw tables, MERGEd). The RPC goes through the
chain's `ChainlinkHook`, which owns the connection.
"""
