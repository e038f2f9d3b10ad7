"""Market vs Oracle: each token's two witnesses, their divergence, and the silent-oracle and
thin-market periods."""

import streamlit as st
from peg_dashboard import charts, data, filters, ui

st.title("Market vs Oracle")


@st.fragment(run_every=ui.REFRESH_EVERY)
def market_vs_oracle() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        st.caption(
            "Two witnesses of each token's price: the Chainlink oracle, and the market (the depth-weighted "
            "median of the token's Uniswap v3 pools, in USD through the reference feeds, leaving out thin and "
            "stale pools). Divergent: apart by more than the feed's deviation threshold plus its margin. "
            "Shaded red: a silent oracle (divergent with no round published since it began); grey: a thin "
            "market (no pool deep enough to trust its price). Market depth: the token held near the price in "
            "the usable pools, in USD (what a trade meets before the price moves). Sized-quote slippage: what "
            "selling about $1M of the token loses in its best pool, below that pool's price. Tokens without "
            "pools have only their oracle."
        )
        series = data.market_vs_oracle(selection.feed, selection.start, selection.end)
        if series.empty:
            ui.empty_state("market readings", selection)
            return
        ui.verdict_metrics(series)
        for symbol, token in series.groupby("symbol", sort=True):
            ui.titled_charts(
                (f"{symbol}: oracle and market", charts.market_oracle_chart(token)),
                (f"{symbol}: divergence", charts.divergence_chart(token)),
            )
            ui.titled_charts(
                (f"{symbol}: market depth", charts.depth_chart(token)),
                (f"{symbol}: sized-quote slippage", charts.slippage_chart(token)),
            )
        ui.refreshed_caption()


market_vs_oracle()
