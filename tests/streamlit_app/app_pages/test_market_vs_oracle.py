"""Market vs Oracle: both witnesses per token with pools, their divergence, the market's depth and
sized-quote slippage, and the verdicts counted as the market-vs-oracle mart has them."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

from tests.streamlit_app.conftest import execute
from tests.support.pipeline import query

DAY = timedelta(days=1)


def test_both_witnesses_and_the_verdicts_of_every_token_with_pools(app, marts, stack) -> None:
    rows = query(
        f"select feed_pair, symbol, priced_at, is_divergent, is_silent_oracle, is_thin_market, divergence_bps, "
        f"best_quote_slippage_bps from {marts}.STABLECOIN_MARKET_VS_ORACLE"
    )
    assert set(rows.symbol) == {"USDC", "USDT", "DAI"} and len(rows) == 3 * 21 * 24  # hourly, 21 days
    first, last = stack.end.date() - 21 * DAY, stack.end.date() - DAY
    at = app(start=str(first), end=str(last)).run()
    at.switch_page("app_pages/market_vs_oracle.py").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Market vs Oracle"
    widest = rows.divergence_bps.astype(float).abs().max()
    assert {m.label: m.value for m in at.metric} == {
        "Divergent": f"{int(rows.is_divergent.sum()):,} of {21 * 24:,} periods",
        "Silent oracle": f"{int(rows.is_silent_oracle.sum()):,}",
        "Thin market": f"{int(rows.is_thin_market.sum()):,}",
        "Widest divergence": f"{widest:,.0f} bps",
    }
    assert [s.value for s in at.main.subheader] == [
        f"{symbol}: {chart}"
        for symbol in ("DAI", "USDC", "USDT")
        for chart in ("oracle and market", "divergence", "market depth", "sized-quote slippage")
    ]
    assert len(at.get("vega_lite_chart")) == 12

    at.selectbox[0].set_value("USDT/USD").run()
    assert not at.exception
    usdt = rows[rows.feed_pair == "USDT/USD"]
    assert at.metric[2].value == f"{int(usdt.is_thin_market.sum()):,}"
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4
    # the slippage chart draws the mart's: its worst bucket is the worst reading
    assert "sized-quote slippage (bps)" in charts[3].proto.spec
    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in charts[3].proto.datasets]
    plotted = pd.concat([f["quote_slippage_bps"] for f in frames if "quote_slippage_bps" in f]).dropna()
    assert plotted.max() == pytest.approx(float(usdt.best_quote_slippage_bps.astype(float).max()))


def test_marts_without_market_readings_show_an_empty_state(app, marts_copy) -> None:
    """Feeds loaded without their pools (or before the market was read) have only their oracle."""
    execute(f"delete from {marts_copy}.STABLECOIN_MARKET_VS_ORACLE")
    at = app(marts_schema=marts_copy).run()
    at.switch_page("app_pages/market_vs_oracle.py").run()
    assert not at.exception and not at.error
    assert [i.value for i in at.info][0].startswith("No market readings for all feeds in")
    assert not at.metric and not at.get("vega_lite_chart")
