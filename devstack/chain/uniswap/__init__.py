"""Uniswap v3 on the local chain at its mainnet addresses: the real factory and pool code, local
tokens, and a driver that moves pools through real transactions."""

from __future__ import annotations

from devstack.chain.uniswap.deploy import DRIVER_ADDRESS, create_pool, deploy_uniswap
from devstack.chain.uniswap.pools import PoolState, drive_call, pool_state, pool_states, set_pool_state, swap

__all__ = [
    "DRIVER_ADDRESS",
    "PoolState",
    "create_pool",
    "deploy_uniswap",
    "drive_call",
    "pool_state",
    "pool_states",
    "set_pool_state",
    "swap",
]
