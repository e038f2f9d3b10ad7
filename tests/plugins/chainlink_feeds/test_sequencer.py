"""The chain's ingest reads an L2 sequencer's status changes from Chainlink's own uptime feed (on a
chain-42161 node, behind Arbitrum One's proxy address) into the warehouse; a feed answering
anything but 0 or 1 is refused, naming the registry line, and nothing of it is stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import snowflake.connector

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.operators import ChainlinkChainOperator, ChainLoadError
from chainlink_feeds.registry import load_market, to_checksum_address
from chainlink_feeds.sequencer import SequencerAnswerError, read_sequencer
from devstack.chain.rpc import Rpc
from devstack.chain.sequencer import Sequencer, deploy, set_status
from devstack.services import emulator
from tests.plugins.chainlink_feeds.test_registry_chains import CHAINS
from tests.plugins.chainlink_feeds.test_registry_market import line, write
from tests.support.pipeline import create_schema, drop_schemas
from tests.support.scratch_chain import deploy as deploy_contract
from tests.support.scratch_chain import free_port, scratch_chain, transact

ARBITRUM_PROXY = "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"
CONN_ID = "chainlink_arbitrum_test"
MINUTE = 60


@pytest.fixture(scope="module")
def node() -> Iterator[Rpc]:
    with scratch_chain(chain_id=42161, port=free_port()) as rpc:
        yield rpc


@pytest.fixture(scope="module")
def outages(node: Rpc) -> tuple[Sequencer, list[tuple[bool, int]]]:
    """The uptime feed at Arbitrum One's proxy address: initialized up, then down and back twice."""
    sequencer = deploy(node, proxy_at=ARBITRUM_PROXY)
    now = int(node.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    changes = [
        (True, now + 10 * MINUTE),
        (False, now + 40 * MINUTE),
        (True, now + 90 * MINUTE),
        (False, now + 95 * MINUTE),
    ]
    for down, at in changes:
        set_status(node, sequencer, down=down, at=at)
    return sequencer, changes


@pytest.fixture
def connection(node: Rpc, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "chainlink", "host": node.url}))
    return CONN_ID


@pytest.fixture
def schema(stack) -> Iterator[str]:
    name = f"SEQ_{uuid.uuid4().hex[:8].upper()}"
    create_schema(name)
    yield name
    drop_schemas(name)


def stored(schema: str) -> list[tuple]:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(f"select round_id, is_down, changed_at from {schema}.CHAINLINK_SEQUENCER_ROUNDS order by round_id")
        return cur.fetchall()


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_the_chains_task_stores_every_status_change_recorded_by_its_window_end(
    outages, connection, schema, tmp_path: Path
) -> None:
    _, changes = outages
    registry = write(tmp_path, CHAINS)
    end = utc(changes[2][1])  # the second outage had not begun by the window's end
    summary = ChainlinkChainOperator(
        task_id="ingest_arbitrum", chain="arbitrum", feed_pairs=[], window_start=(end - timedelta(days=1)).isoformat(),
        window_end=end.isoformat(), chainlink_conn_id=connection, raw_schema=schema, registry_path=registry,
    ).execute({"run_id": "test_sequencer"})  # fmt: skip
    assert summary["sequencer_rounds"] == 3  # initialize's round (up) and the first outage
    phase_1 = 1 << 64
    assert [(int(r), bool(d), t.replace(tzinfo=UTC)) for r, d, t in stored(schema)][1:] == [
        (phase_1 | 2, True, utc(changes[0][1])),
        (phase_1 | 3, False, utc(changes[1][1])),
    ]
    # a later window adds the rest; loading it twice changes nothing
    for _ in range(2):
        ChainlinkChainOperator(
            task_id="ingest_arbitrum", chain="arbitrum", feed_pairs=[], window_start=end.isoformat(),
            window_end=(end + timedelta(days=1)).isoformat(), chainlink_conn_id=connection, raw_schema=schema,
            registry_path=registry,
        ).execute({"run_id": "test_sequencer_2"})  # fmt: skip
    rows = stored(schema)
    assert [bool(d) for _, d, _ in rows] == [False, True, False, True, False]
    assert [t.replace(tzinfo=UTC) for _, _, t in rows][1:] == [utc(at) for _, at in changes]
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(
            f"select chain, chain_id, sequencer_proxy_address, grace_period_seconds from {schema}.CHAINLINK_CHAINS"
        )
        assert cur.fetchall() == [("arbitrum", 42161, ARBITRUM_PROXY, 1800)]


def test_a_sequencer_feed_answering_neither_0_nor_1_is_refused_naming_the_registry_line(
    node: Rpc, outages, connection, schema, tmp_path: Path
) -> None:
    """A price feed's proxy named as the uptime feed: its answer (1.0001 with 8 decimals) is no status."""
    aggregator = deploy_contract(node, "MockV3Aggregator", 8, 100_010_000)
    proxy = deploy_contract(node, "EACAggregatorProxy", aggregator, "0x" + "00" * 20)
    transact(node, aggregator, "MockV3Aggregator", "updateAnswer", 100_010_000)
    registry = write(tmp_path, CHAINS.replace(ARBITRUM_PROXY, to_checksum_address(proxy), 1))
    chain = load_market(registry).sequencer("arbitrum")
    where = f"feeds.yaml line {line(CHAINS, 'sequencer_uptime_feed')}: chains: arbitrum: sequencer_uptime_feed"
    with pytest.raises(ChainLoadError, match=f"sequencer: SequencerAnswerError: .*{where} .* answered 100010000"):
        ChainlinkChainOperator(
            task_id="ingest_arbitrum", chain="arbitrum", feed_pairs=[], window_end=datetime.now(UTC).isoformat(),
            window_start=(datetime.now(UTC) - timedelta(days=1)).isoformat(), chainlink_conn_id=connection,
            raw_schema=schema, registry_path=registry,
        ).execute({"run_id": "test_bad_sequencer"})  # fmt: skip
    assert stored(schema) == []  # nothing half-written
    with pytest.raises(SequencerAnswerError, match="an uptime feed answers 0 \\(up\\) or 1 \\(down\\)"):
        read_sequencer(ChainlinkHook(chainlink_conn_id=connection), chain, datetime.now(UTC) + timedelta(days=1))
