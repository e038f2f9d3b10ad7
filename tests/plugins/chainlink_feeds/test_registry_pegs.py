"""A feed pegged to another feed's price (`peg_reference`: EURC/USD to EUR/USD) parses, and every bad
peg is refused where the registry is read, naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlink_feeds.registry import DEFAULT_REGISTRY, FeedRegistryError, Reference, load_market, load_registry
from tests.plugins.chainlink_feeds.test_registry_market import line, write

PEGS = """\
references:
  - symbol: EUR
    pair: EUR/USD
    chain: ethereum
    proxy: "0xb49f677943BC038e9857d61E7d053CaA2C1734C1"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.15
feeds:
  - symbol: USDC
    pair: USDC/USD
    chain: ethereum
    proxy: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.25
    peg_usd: 1.00
  - symbol: EURC
    pair: EURC/USD
    chain: ethereum
    proxy: "0x04F84020Fdf10d9ee64D1dcC2986EDF2F556DA11"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.3
    peg_reference: EUR/USD
    warning_bps: 100
    critical_bps: 200
"""
EURC = "  - symbol: EURC"


def test_a_feed_pegged_to_a_reference_parses(tmp_path: Path) -> None:
    market = load_market(write(tmp_path, PEGS))
    usdc, eurc = market.feeds
    assert (usdc.peg_reference, str(usdc.peg_usd)) == (None, "1.0")
    assert (eurc.peg_reference, eurc.peg_usd, eurc.warning_bps, eurc.critical_bps) == ("EUR/USD", 1, 100, 200)
    (eur,) = market.references
    assert isinstance(eur, Reference) and eur.symbol == "EUR"  # a currency, not a token: it is a feed's peg
    assert market.references_in_use() == (eur,)  # loaded beside the feeds, as the pools' references are


def test_the_project_registry_pegs_eurc_to_eur_usd() -> None:
    feeds = {f.pair: f for f in load_registry(DEFAULT_REGISTRY) if f.chain == "ethereum"}
    eurc = feeds["EURC/USD"]
    assert eurc.peg_reference == "EUR/USD" and eurc.warning_bps > feeds["USDC/USD"].warning_bps
    assert load_market(DEFAULT_REGISTRY).price_feed("ethereum", "EUR/USD").proxy == (
        "0xb49f677943BC038e9857d61E7d053CaA2C1734C1"
    )


PEGGED_USDC = "    peg_usd: 1.00\n  - symbol: EURC"

# (how to break PEGS, the needle whose line the error names, the message after "line N: ")
REFUSALS = [
    (("peg_reference: EUR/USD", "peg_reference: GBP/USD"), EURC, "feed EURC/USD: peg_reference 'GBP/USD' is not a feed or reference on ethereum"),
    (("peg_reference: EUR/USD", "peg_reference: EURC/USD"), EURC, "feed EURC/USD: peg_reference 'EURC/USD': a feed cannot be pegged to itself"),
    # a peg that is itself pegged to a third feed (so no chain or cycle of pegs)
    ((PEGGED_USDC, "    peg_reference: EURC/USD\n  - symbol: EURC"), "  - symbol: USDC", "feed USDC/USD: peg_reference 'EURC/USD' is itself pegged to 'EUR/USD': a peg reference must be pegged to nothing"),
    (("pair: EUR/USD", "pair: EUR/GBP"), EURC, "feed EURC/USD: peg_reference 'EUR/USD' is not a feed or reference"),
    ((lambda t: t.replace("pair: EUR/USD", "pair: EUR/GBP").replace("peg_reference: EUR/USD", "peg_reference: EUR/GBP"), None), EURC, "feed EURC/USD: peg_reference 'EUR/GBP' is not quoted in USD like the feed"),
    (("chain: ethereum\n    proxy: \"0xb49f", "chain: base\n    proxy: \"0xb49f"), EURC, "feed EURC/USD: peg_reference 'EUR/USD' is not a feed or reference on ethereum"),
    (("peg_reference: EUR/USD\n", "peg_reference: EUR/USD\n    peg_usd: 1\n"), EURC, "give exactly one of peg_usd .* and peg_reference"),
    (("    peg_reference: EUR/USD\n", ""), EURC, "give exactly one of peg_usd"),
    (("peg_reference: EUR/USD", "peg_reference: EUR"), EURC, "peg_reference 'EUR' is not a pair of the form BASE/QUOTE"),
    (("peg_reference: EUR/USD", "peg_reference: [EUR/USD]"), EURC, "peg_reference \\['EUR/USD'\\] is not a pair"),
    (("    peg_usd: 1.00\n", "    peg_usd: 0\n"), "  - symbol: USDC", "peg_usd must be a positive number, got 0"),
    (("critical_bps: 200\n", 'critical_bps: 200\n    market:\n      - {pool: "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6", reference: USDC/USD}\n'), EURC, "feed EURC/USD: market: the market checks compare with a constant peg"),
    # a reference no pool and no feed uses
    (("peg_reference: EUR/USD", "peg_usd: 1.08"), "  - symbol: EUR", "references: symbol 'EUR' is not a token on ethereum \\(see tokens:\\) and no feed has peg_reference 'EUR/USD'"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "needle", "message"), REFUSALS)
def test_bad_pegs_name_file_line_and_field(tmp_path: Path, change: tuple, needle: str, message: str) -> None:
    old, new = change
    text = old(PEGS) if callable(old) else PEGS.replace(old, new, 1)
    assert text != PEGS
    with pytest.raises(FeedRegistryError, match=f"feeds.yaml line {line(text, needle)}: {message}"):
        load_market(write(tmp_path, text))


def test_a_usd_feed_may_be_the_peg(tmp_path: Path) -> None:
    """One step from a constant: a feed pegged to USDC/USD (itself pegged to $1) is valid."""
    text = PEGS[PEGS.index("feeds:") :].replace("peg_reference: EUR/USD", "peg_reference: USDC/USD")
    (usdc, eurc) = load_registry(write(tmp_path, text))
    assert eurc.peg_reference == usdc.pair
