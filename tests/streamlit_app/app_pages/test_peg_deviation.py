"""Peg Deviation on the marts built from the simulated history: the status cards and the latest
updates equal the marts (queried here independently), the token and range filters change them."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from chainlink_feeds.registry import load_registry
from devstack.chain.stack_chains import ETHEREUM  # the marts fixture loads the Ethereum node's feeds
from tests.support.pipeline import query

DAY = timedelta(days=1)


def expected_status(marts: str, end, pair: str | None = None) -> pd.DataFrame:
    """Per feed, the last round served before `end`, computed in pandas from the health mart."""
    rounds = query(
        f"select feed_pair, symbol, served_from, round_id, price_usd, deviation_bps, peg_status "
        f"from {marts}.STABLECOIN_PEG_HEALTH where served_from < '{end:%Y-%m-%d %H:%M:%S}'"
    )
    if pair:
        rounds = rounds[rounds.feed_pair == pair]
    rounds["round_id"] = rounds["round_id"].map(int)
    latest = rounds.sort_values(["served_from", "round_id"]).groupby("feed_pair").tail(1)
    return latest.sort_values("symbol").reset_index(drop=True)


def expected_updates(marts: str, start, end, pair: str | None = None) -> pd.DataFrame:
    rounds = query(
        f"select served_from, symbol, feed_pair, price_usd, deviation_pct, deviation_bps, peg_status, round_id "
        f"from {marts}.STABLECOIN_PEG_HEALTH where served_from >= '{start:%Y-%m-%d}' and served_from < '{end:%Y-%m-%d}'"
    )
    if pair:
        rounds = rounds[rounds.feed_pair == pair]
    rounds["round_id"] = rounds["round_id"].map(int)
    return rounds.sort_values(["served_from", "round_id"], ascending=False).head(100).reset_index(drop=True)


def expected_market(marts: str, end, pair: str | None = None) -> dict[str, str]:
    """Per feed (by symbol), the market-vs-oracle mart's last row before `end`, as the card says it."""
    rows = query(
        f"select symbol, feed_pair, priced_at, market_price_usd, divergence_bps, is_divergent, is_silent_oracle, "
        f"is_thin_market from {marts}.STABLECOIN_MARKET_VS_ORACLE where priced_at < '{end:%Y-%m-%d %H:%M:%S}'"
    )
    if pair:
        rows = rows[rows.feed_pair == pair]
    texts = {}
    for _, row in rows.sort_values("priced_at").groupby("symbol").tail(1).iterrows():
        if row.is_thin_market:
            texts[row.symbol] = f"Market: thin at {row.priced_at:%Y-%m-%d %H:%M} UTC (no pool deep enough to trust)"
            continue
        verdict = " · **silent oracle**" if row.is_silent_oracle else " · divergent" if row.is_divergent else ""
        price, divergence = float(row.market_price_usd), float(row.divergence_bps)
        texts[row.symbol] = f"Market ${price:.4f} · oracle {divergence:+.0f} bps off it{verdict}"
    return texts


def feeds_in_view(marts: str, pair: str | None = None) -> pd.DataFrame:
    """The loaded feeds the page shows a card for (by symbol), with their thresholds."""
    feeds = query(f"select feed_pair, symbol, warning_bps, critical_bps from {marts}.CHAINLINK_FEED_STALENESS")
    return feeds[feeds.feed_pair == pair] if pair else feeds.sort_values("symbol").reset_index(drop=True)


def updates_in_range(marts: str, start, end) -> list[str]:
    """The feeds with a round served in [start, end)."""
    return list(
        query(
            f"select distinct feed_pair from {marts}.STABLECOIN_PEG_HEALTH "
            f"where served_from >= '{start:%Y-%m-%d}' and served_from < '{end:%Y-%m-%d}'"
        ).feed_pair
    )


def badges(at) -> list[str]:
    return [m.value.split(" ")[-1].rstrip("]") for m in at.markdown if "-badge[" in m.value]


def check_page(at, marts: str, start, end, pair: str | None = None) -> None:
    assert not at.exception, at.exception
    feeds = feeds_in_view(marts, pair)
    status = expected_status(marts, end, pair).set_index("symbol")
    assert len(feeds) == (1 if pair else len(ETHEREUM.feeds(load_registry()))) and len(status) > 0
    metrics = {m.label: m for m in at.metric}
    assert list(metrics) == list(feeds["symbol"])  # a card per feed, by symbol
    for symbol in feeds["symbol"]:
        if symbol not in status.index:  # launched after the range ended: no round yet
            assert metrics[symbol].value == "—", symbol
            continue
        assert metrics[symbol].value == f"${float(status.loc[symbol, 'price_usd']):.4f}"
        assert metrics[symbol].delta == f"{float(status.loc[symbol, 'deviation_bps']):+.1f} bps"
    assert badges(at) == [status.loc[s, "peg_status"] if s in status.index else "data" for s in feeds["symbol"]]
    # each card with a price shows the market's last verdict beside the oracle, or that it has no pools
    market = expected_market(marts, end, pair)
    assert [c.value for c in at.main.caption if c.value.startswith("Market")] == [
        market.get(s, "Market: no pools read") for s in feeds["symbol"] if s in status.index
    ]
    assert set(market) == {"USDC", "USDT", "DAI"} & set(status.index)  # the tokens with pools

    updates = expected_updates(marts, start, end, pair)
    shown = at.dataframe[0].value
    assert len(shown) == len(updates) > 0
    assert list(shown["served_from"]) == list(updates["served_from"])
    assert list(shown["symbol"]) == list(updates["symbol"])
    assert list(shown["round_id"]) == [str(r) for r in updates["round_id"]]
    assert list(shown["peg_status"]) == list(updates["peg_status"])
    for column in ("price_usd", "deviation_pct", "deviation_bps"):
        assert shown[column].to_numpy() == pytest.approx(updates[column].astype(float).to_numpy(), abs=1e-12)
    assert shown["deviation_bps"].to_numpy() == pytest.approx(shown["deviation_pct"].to_numpy() * 100)
    # one price chart per token with rounds in the range, one deviation chart per set of thresholds
    shown = feeds[feeds.feed_pair.isin(set(updates_in_range(marts, start, end)))]
    groups = {(int(w), int(c)) for w, c in zip(shown.warning_bps, shown.critical_bps, strict=True)}
    assert len(at.get("vega_lite_chart")) == len(shown) + len(groups)


def test_all_feeds_by_default(app, marts, stack) -> None:
    at = app().run()
    first, last = stack.end.date() - 21 * DAY, stack.end.date() - DAY
    assert at.date_input[0].value == (first, last)  # the fixture's 21 days, within the default 30
    assert at.selectbox[0].options == [
        "All feeds",
        *sorted(query(f"select feed_pair from {marts}.CHAINLINK_FEED_STALENESS").feed_pair),
    ]
    check_page(at, marts, first, last + DAY)
    assert at.title[0].value == "Peg Deviation"


def test_the_token_filter_and_the_range_change_what_is_shown(app, marts, stack) -> None:
    depeg_day = stack.depeg_start.date()
    start = depeg_day - 2 * DAY
    at = app(start=str(start), end=str(depeg_day)).run()
    check_page(at, marts, start, depeg_day + DAY)
    assert "critical" in badges(at)  # USDC at the end of the day its depeg began

    at.selectbox[0].set_value("USDC/USD").run()
    check_page(at, marts, start, depeg_day + DAY, pair="USDC/USD")
    assert badges(at) == ["critical"]
    assert set(at.dataframe[0].value["symbol"]) == {"USDC"}
    assert at.query_params == {"feed": "USDC", "start": str(start), "end": str(depeg_day)}

    at.selectbox[0].set_value("DAI/USD").run()
    check_page(at, marts, start, depeg_day + DAY, pair="DAI/USD")


def test_a_token_without_rounds_shows_an_empty_state(app, marts_copy, stack) -> None:
    from tests.streamlit_app.conftest import execute

    execute(f"delete from {marts_copy}.STABLECOIN_PEG_HEALTH where feed_pair = 'USDT/USD'")
    at = app(marts_schema=marts_copy).run()
    assert not at.exception
    usdt = next(m for m in at.metric if m.label == "USDT")
    assert usdt.value == "—"
    assert badges(at)[[m.label for m in at.metric].index("USDT")] == "data"  # its "no data" badge

    at.selectbox[0].set_value("USDT/USD").run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["—"]
    infos = [i.value for i in at.info]
    assert len(infos) == 2 and all(i.startswith("No Chainlink rounds for USDT/USD") for i in infos)
    assert not at.dataframe and not at.get("vega_lite_chart")


def test_a_pair_on_two_chains_is_two_series(app, l2_marts) -> None:
    """USDC/USD on Ethereum and on Arbitrum: a price chart each, and the latest updates name the L2's
    rounds by chain (merged into one series, one chain's rounds would zigzag through the other's)."""
    at = app(marts_schema=l2_marts, start="2026-02-28", end="2026-03-01").run()
    assert not at.exception
    assert set(at.dataframe[0].value["symbol"]) == {"USDC", "USDC (arbitrum)"}
    assert len(at.get("vega_lite_chart")) == 2 + 1  # a price chart per chain's feed, one deviation chart
    # an alert's link names the chain: it opens that chain's feed
    for chain in ("ethereum", "arbitrum"):
        linked = app(marts_schema=l2_marts, feed=f"USDC/USD ({chain})").run()
        assert not linked.warning and linked.selectbox[0].value == f"USDC/USD ({chain})"
