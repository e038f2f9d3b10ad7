"""`chains:` gives an L2 its sequencer uptime feed and grace period; a feed on an L2 without one, and
every other bad chain entry, is refused where the registry is read, naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlink_feeds.registry import SEQUENCER_CHAINS, FeedRegistryError, load_market
from chainlink_feeds.registry.chains import DEFAULT_GRACE_PERIOD_SECONDS
from tests.plugins.chainlink_feeds.test_registry_market import line, write

# Arbitrum One's sequencer uptime feed and USDC/USD proxies as in bgd-labs/aave-address-book
# src/ChainlinkArbitrum.sol (the registry's own comment cites them too).
CHAINS = """\
chains:
  arbitrum:
    sequencer_uptime_feed: "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"
    grace_period_seconds: 1800
feeds:
  - symbol: USDC
    pair: USDC/USD
    chain: ethereum
    proxy: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.25
    peg_usd: 1.00
  - symbol: USDC
    pair: USDC/USD
    chain: arbitrum
    proxy: "0x50834F3163758fcC1Df9973b6e91f0F0F0434aD3"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.1
    peg_usd: 1.00
"""
ARB_FEED = "    chain: arbitrum"
ARBITRUM = "  arbitrum:"


def test_an_l2_feed_parses_with_its_chains_sequencer(tmp_path: Path) -> None:
    market = load_market(write(tmp_path, CHAINS))
    (arbitrum,) = market.chains
    assert (arbitrum.name, arbitrum.chain_id, arbitrum.grace_period_seconds) == ("arbitrum", 42161, 1800)
    assert arbitrum.sequencer_uptime_feed == "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"
    assert arbitrum.where.endswith(f"feeds.yaml line {line(CHAINS, 'sequencer_uptime_feed')}")
    assert market.sequencer("arbitrum") == arbitrum and market.sequencer("ethereum") is None
    # the same pair on two chains is two feeds
    assert [(f.chain, f.pair) for f in market.feeds] == [("ethereum", "USDC/USD"), ("arbitrum", "USDC/USD")]


def test_the_grace_period_defaults_to_an_hour(tmp_path: Path) -> None:
    text = CHAINS.replace("    grace_period_seconds: 1800\n", "")
    assert load_market(write(tmp_path, text)).sequencer("arbitrum").grace_period_seconds == DEFAULT_GRACE_PERIOD_SECONDS
    assert DEFAULT_GRACE_PERIOD_SECONDS == 3600


def test_every_sequencer_chain_is_a_known_chain() -> None:
    from chainlink_feeds.registry import KNOWN_CHAINS

    assert set(KNOWN_CHAINS) >= SEQUENCER_CHAINS and "ethereum" not in SEQUENCER_CHAINS


# (how to break CHAINS, the needle whose line the error names, the message after "line N: ")
REFUSALS = [
    # an L2 feed without its chain's sequencer
    (("chains:\n  arbitrum:\n    sequencer_uptime_feed: \"0xFdB631F5EE196F0ed6FAa767959853A9F217697D\"\n    grace_period_seconds: 1800\n", ""), ("  - symbol: USDC", "last"), "chain: arbitrum runs on a sequencer; add chains: arbitrum: sequencer_uptime_feed"),
    (("  arbitrum:\n", "  base:\n"), ("  - symbol: USDC", "last"), "chain: arbitrum runs on a sequencer"),
    (("  arbitrum:\n", "  ethereum:\n"), "  ethereum:", "chains: ethereum has no sequencer; only arbitrum, base, optimism take an entry"),
    (("  arbitrum:\n", "  arbitrun:\n"), "  arbitrun:", "chains: unknown chain 'arbitrun'"),
    (("sequencer_uptime_feed: \"0xFdB631F5EE196F0ed6FAa767959853A9F217697D\"", "sequencer_uptime_feed: \"0xfdb631F5EE196F0ed6FAa767959853A9F217697D\""), ARBITRUM, "chains: arbitrum: sequencer_uptime_feed '0xfdb6.*' is not EIP-55 checksummed"),
    (("    sequencer_uptime_feed: \"0xFdB631F5EE196F0ed6FAa767959853A9F217697D\"\n", ""), ARBITRUM, "chains: arbitrum: missing field 'sequencer_uptime_feed'"),
    (("grace_period_seconds: 1800", "grace_period_seconds: -5"), ARBITRUM, "chains: arbitrum: grace_period_seconds -5 is not a whole number of seconds >= 0"),
    (("grace_period_seconds: 1800", "grace_period_seconds: 1h"), ARBITRUM, "chains: arbitrum: grace_period_seconds '1h' is not a whole number"),
    (("grace_period_seconds: 1800", "grace_period: 1800"), ARBITRUM, "chains: arbitrum: unknown field\\(s\\) \\['grace_period'\\]"),
    (("  arbitrum:\n    sequencer", "  arbitrum: 0xFdB631F5EE196F0ed6FAa767959853A9F217697D\n  base:\n    sequencer"), ARBITRUM, "chains: arbitrum must be a mapping with sequencer_uptime_feed"),
    (("chains:\n  arbitrum:", "chains:\n  - arbitrum:"), "  - arbitrum:", "chains must be a mapping of chain name -> settings"),
    # the uptime feed is not a price feed
    (("proxy: \"0x50834F3163758fcC1Df9973b6e91f0F0F0434aD3\"", "proxy: \"0xFdB631F5EE196F0ed6FAa767959853A9F217697D\""), ("  - symbol: USDC", "last"), "proxy is arbitrum's sequencer_uptime_feed \\(.*feeds.yaml line 3\\), not a price feed"),
    # a duplicate pair on one chain
    (("chain: ethereum", "chain: arbitrum"), ("  - symbol: USDC", "last"), "duplicate feed 'USDC/USD' on arbitrum"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "needle", "message"), REFUSALS)
def test_bad_chains_name_file_line_and_field(tmp_path: Path, change: tuple, needle, message: str) -> None:
    old, new = change
    text = CHAINS.replace(old, new, 1)
    assert text != CHAINS
    with pytest.raises(FeedRegistryError, match=f"feeds.yaml line {line(text, needle)}: {message}"):
        load_market(write(tmp_path, text))


@pytest.mark.parametrize(
    ("chain", "feed_pairs", "needle"),
    [
        ("arbitrum", None, ("  - symbol: USDC", "last")),
        ("arbitrum", [], "sequencer_uptime_feed"),
        ("ethereum", None, "  - symbol: USDC"),
    ],
)
def test_a_chain_without_its_connection_is_refused_naming_the_registry_line(
    tmp_path: Path, chain: str, feed_pairs, needle
) -> None:
    """Before anything is read or stored: the line of the chain's first entry the task loads (its
    uptime feed's when it loads no feed)."""
    from chainlink_feeds.operators import ChainlinkChainOperator, ChainlinkFeedOperator

    registry = write(tmp_path, CHAINS)
    where = (
        f"feeds.yaml line {line(CHAINS, needle)}: chain: {chain} has no Airflow connection 'chainlink_{chain}_nowhere'"
    )
    kwargs = {
        "chain": chain,
        "registry_path": registry,
        "chainlink_conn_id": f"chainlink_{chain}_nowhere",
        "window_start": "2026-03-01T00:00:00+00:00",
        "window_end": "2026-03-02T00:00:00+00:00",
    }
    with pytest.raises(FeedRegistryError, match=where + ".*AIRFLOW_CONN_CHAINLINK_"):
        ChainlinkChainOperator(task_id="ingest", feed_pairs=feed_pairs, **kwargs).execute({"run_id": "test"})
    if feed_pairs is None:
        with pytest.raises(FeedRegistryError, match=where):
            ChainlinkFeedOperator(task_id="ingest", feed_pair="USDC/USD", **kwargs).execute({"run_id": "test"})
