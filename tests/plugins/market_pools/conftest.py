"""A ChainlinkHook on a scratch node, as the pool reader gets one from an Airflow connection."""

from __future__ import annotations

import json

import pytest

from chainlink_feeds.hooks import ChainlinkHook
from devstack.chain.rpc import Rpc


def hook_on(rpc: Rpc, monkeypatch: pytest.MonkeyPatch, conn_id: str = "chainlink_scratch") -> ChainlinkHook:
    """A hook whose connection points at `rpc`'s node."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "chainlink", "host": rpc.url}))
    return ChainlinkHook(chainlink_conn_id=conn_id)
