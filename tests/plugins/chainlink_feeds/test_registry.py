"""The feed registry validates where it is read and names the bad line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chainlink_feeds.registry import (
    DEFAULT_HEARTBEAT_GRACE_SECONDS,
    DEFAULT_REGISTRY,
    FeedRegistryError,
    load_market,
    load_registry,
)

GOOD = """\
feeds:
  - symbol: USDC
    pair: USDC/USD
    chain: ethereum
    proxy: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.25
    peg_usd: 1.00
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    return path


def test_project_registry_lists_usdc_and_usdt_at_their_mainnet_proxies() -> None:
    feeds = {f.pair: f for f in load_registry(DEFAULT_REGISTRY) if f.chain == "ethereum"}
    assert feeds["USDC/USD"].proxy == "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"
    assert feeds["USDT/USD"].proxy == "0x3E7d1eAB13ad0104d2750B8863b489D65364e32D"
    assert all(f.chain_id == 1 and f.description == f.pair.replace("/", " / ") for f in feeds.values())


def test_project_registry_covers_the_major_usd_stablecoins_on_ethereum() -> None:
    """Issue 19's floor: at least 12 USD stablecoin feeds on mainnet, each its own proxy."""
    usd = [f for f in load_registry(DEFAULT_REGISTRY) if f.chain == "ethereum" and f.pair.endswith("/USD")]
    assert len(usd) >= 12
    assert {"USDC", "USDT", "DAI", "USDS", "USDe", "PYUSD", "FDUSD", "FRAX", "LUSD", "GHO", "crvUSD", "TUSD"} <= {
        f.symbol for f in usd
    }
    assert len({f.proxy for f in usd}) == len(usd) and {f.decimals for f in usd} == {8}
    assert all(f.heartbeat_seconds in (3600, 86400) and 0.1 <= f.deviation_threshold_pct <= 1 for f in usd)


def test_project_registry_covers_arbitrum_with_its_sequencer() -> None:
    """Part 3's floor: feeds on an L2, each its own feed beside Ethereum's same pair, and the chain's
    uptime feed with a grace period."""
    market = load_market(DEFAULT_REGISTRY)
    arbitrum = {f.pair: f for f in market.feeds if f.chain == "arbitrum"}
    assert arbitrum["USDC/USD"].proxy == "0x50834F3163758fcC1Df9973b6e91f0F0F0434aD3"
    assert arbitrum["USDT/USD"].proxy == "0x3f3f5dF88dC9F13eac63DF89EC16ef6e7E25DdE7"
    assert {f.chain_id for f in arbitrum.values()} == {42161}
    sequencer = market.sequencer("arbitrum")
    assert sequencer is not None and sequencer.sequencer_uptime_feed == "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"
    assert sequencer.grace_period_seconds == 3600


def test_a_good_entry_parses(tmp_path: Path) -> None:
    (feed,) = load_registry(write(tmp_path, GOOD))
    assert str(feed.deviation_threshold_pct) == "0.25"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6", "0x8fffffd4afb6115b954bd326cbe7b4ba576818f6"),
            "line 2: .*not EIP-55 checksummed",
        ),
        (("0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6", "0x1234"), "line 2: .*not a 20-byte hex address"),
        (("chain: ethereum", "chain: ethereun"), "line 2: unknown chain 'ethereun'"),
        (("    decimals: 8\n", ""), "line 2: missing field 'decimals'"),
        (("decimals: 8", "decimals: eight"), "line 2: field 'decimals' has the wrong type"),
        (("pair: USDC/USD", "pair: USDCUSD"), "line 2: pair 'USDCUSD' is not of the form BASE/QUOTE"),
        (("peg_usd: 1.00", "peg_usd: 1.00\n    colour: blue"), r"line 2: unknown field\(s\) \['colour'\]"),
        (
            ("peg_usd: 1.00", "peg_usd: 1.00\n    heartbeat_grace_seconds: -1"),
            "line 2: heartbeat_grace_seconds must be",
        ),
        (("peg_usd: 1.00", "peg_usd: 1.00\n    phase_activations: [2]"), "line 2: phase_activations must map"),
        (
            ("peg_usd: 1.00", "peg_usd: 1.00\n    phase_activations: {0: '2021-06-15T13:37:00Z'}"),
            "line 2: phase_activations: phase 0 is not a phase id",
        ),
        (
            ("peg_usd: 1.00", "peg_usd: 1.00\n    phase_activations: {2: '2021-06-15 13:37:00'}"),
            "line 2: phase_activations: phase 2 must be an ISO-8601 time with a time zone",
        ),
        (
            ("peg_usd: 1.00", "peg_usd: 1.00\n    phase_activations: {2: 'next tuesday'}"),
            "line 2: phase_activations: phase 2 must be an ISO-8601 time",
        ),
        (
            (
                "peg_usd: 1.00",
                "peg_usd: 1.00\n    phase_activations: {2: '2021-06-15T13:37:00Z', 3: '2021-06-01T00:00:00Z'}",
            ),
            r"line 2: phase_activations: phase 3 \(2021-06-01T00:00:00\+00:00\) must start after phase 2",
        ),
    ],
)
def test_bad_entries_name_their_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(FeedRegistryError, match=message):
        load_registry(write(tmp_path, GOOD.replace(*change)))


def test_grace_and_pins_parse(tmp_path: Path) -> None:
    (default,) = load_registry(write(tmp_path, GOOD))
    assert default.heartbeat_grace_seconds == DEFAULT_HEARTBEAT_GRACE_SECONDS == 900
    assert default.heartbeat_limit_seconds == 86400 + 900 and default.phase_activations == {}
    text = GOOD + "    heartbeat_grace_seconds: 60\n    phase_activations:\n      2: 2021-06-15T13:37:00Z\n"
    text += "      3: '2022-01-01T01:00:00+01:00'\n"
    (feed,) = load_registry(write(tmp_path, text))
    assert feed.heartbeat_limit_seconds == 86460
    assert feed.phase_activations == {
        2: datetime(2021, 6, 15, 13, 37, tzinfo=UTC),
        3: datetime(2022, 1, 1, 0, 0, tzinfo=UTC),
    }


def test_duplicates_are_refused(tmp_path: Path) -> None:
    text = GOOD + GOOD.split("feeds:\n", 1)[1].replace("symbol: USDC", "symbol: USDC2")
    with pytest.raises(FeedRegistryError, match="line 10: duplicate feed .* \\(first at .*line 2\\)"):
        load_registry(write(tmp_path, text))


def test_empty_or_unreadable_registry(tmp_path: Path) -> None:
    with pytest.raises(FeedRegistryError, match="non-empty 'feeds' list"):
        load_registry(write(tmp_path, "feeds: []\n"))
    with pytest.raises(FeedRegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.yaml")


def test_thresholds_come_from_defaults_then_the_feed(tmp_path: Path) -> None:
    (builtin,) = load_registry(write(tmp_path, GOOD))
    assert (builtin.warning_bps, builtin.critical_bps, builtin.hysteresis_bps) == (50, 100, 10)
    defaults = "defaults:\n  warning_bps: 30\n  critical_bps: 80\n  hysteresis_bps: 5\n  heartbeat_grace_seconds: 60\n"
    (shared,) = load_registry(write(tmp_path, defaults + GOOD))
    assert (shared.warning_bps, shared.critical_bps, shared.hysteresis_bps) == (30, 80, 5)
    assert shared.heartbeat_limit_seconds == 86460
    text = defaults + GOOD + "    critical_bps: 200\n    hysteresis_bps: 0\n"
    (own,) = load_registry(write(tmp_path, text))
    assert (own.warning_bps, own.critical_bps, own.hysteresis_bps, own.heartbeat_grace_seconds) == (30, 200, 0, 60)
    # critical - band may reach warning exactly: left at 50 bps, where warning is entered
    (tight,) = load_registry(write(tmp_path, GOOD + "    critical_bps: 60\n"))
    assert (tight.warning_bps, tight.critical_bps, tight.hysteresis_bps) == (50, 60, 10)


def test_market_verdict_settings_come_from_defaults_then_the_feed(tmp_path: Path) -> None:
    def settings(feed) -> tuple[int, ...]:
        fields = ("divergence_margin_bps", "market_max_age_minutes", "thin_quote_slippage_bps", "silent_oracle_minutes")
        return tuple(getattr(feed, name) for name in fields)

    (builtin,) = load_registry(write(tmp_path, GOOD))
    assert settings(builtin) == (25, 90, 1000, 3)
    defaults = "defaults:\n  divergence_margin_bps: 0\n  silent_oracle_minutes: 5\n"
    (own,) = load_registry(write(tmp_path, defaults + GOOD + "    thin_quote_slippage_bps: 300\n"))
    assert settings(own) == (0, 90, 300, 5)


def test_the_project_registry_states_its_defaults() -> None:
    """Every dollar coin has the defaults; the euro coin, pegged to EUR/USD, wider thresholds."""
    thresholds = {
        (f.chain, f.pair): (f.warning_bps, f.critical_bps, f.hysteresis_bps) for f in load_registry(DEFAULT_REGISTRY)
    }
    assert thresholds.pop(("ethereum", "EURC/USD")) == (100, 200, 10)
    assert set(thresholds.values()) == {(50, 100, 10)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "    warning_bps: 100\n", r"line 2: warning_bps \(100\) must be below critical_bps \(100\)"),
        (GOOD + "    hysteresis_bps: 50\n", r"line 2: hysteresis_bps \(50\) must be below warning_bps \(50\)"),
        (GOOD + "    critical_bps: 0\n", "line 2: critical_bps must be a whole number >= 1, got 0"),
        (GOOD + "    warning_bps: 12.5\n", "line 2: warning_bps must be a whole number >= 1, got 12.5"),
        (GOOD + "    hysteresis_bps: -1\n", "line 2: hysteresis_bps must be a whole number >= 0"),
        # 46 bps is below warning, yet held at critical (55 - 10 = 45)
        (
            GOOD + "    critical_bps: 55\n",
            r"line 2: critical_bps \(55\) minus hysteresis_bps \(10\) must be at least warning_bps \(50\)",
        ),
        (
            "defaults:\n  warning_bps: 30\n  critical_bps: 40\n  hysteresis_bps: 11\n" + GOOD,
            r"line 2: defaults: critical_bps \(40\) minus hysteresis_bps \(11\) must be at least warning_bps \(30\)",
        ),
        ("defaults:\n  critical_bps: 40\n" + GOOD, r"line 2: defaults: warning_bps \(50\) must be below critical_bps"),
        ("defaults:\n  warning_bps: yes\n" + GOOD, "line 2: defaults: warning_bps must be a whole number"),
        (GOOD + "    silent_oracle_minutes: 0\n", "line 2: silent_oracle_minutes must be a whole number >= 1, got 0"),
        (GOOD + "    divergence_margin_bps: -5\n", "line 2: divergence_margin_bps must be a whole number >= 0"),
        (GOOD + "    thin_quote_slippage_bps: 10000\n", "line 2: thin_quote_slippage_bps must be below 10000"),
        ("defaults:\n  peg_usd: 1\n" + GOOD, r"line 2: defaults: unknown field\(s\) \['peg_usd'\]"),
        ("defaults: [50]\n" + GOOD, "line 1: defaults must be a mapping"),
        ("default:\n  warning_bps: 40\n" + GOOD, "line 1: unknown top-level key 'default'"),
        # a feed's override is checked against the defaults it does not override
        (
            "defaults:\n  warning_bps: 20\n" + GOOD + "    hysteresis_bps: 25\n",
            r"line 4: hysteresis_bps \(25\) must be below warning_bps \(20\)",
        ),
    ],
)
def test_bad_thresholds_name_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FeedRegistryError, match=f"feeds.yaml {message}"):
        load_registry(write(tmp_path, text))
