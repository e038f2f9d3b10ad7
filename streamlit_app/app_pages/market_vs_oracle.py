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
            "market (no pool deep enough to trust its price). Tokens without pools have only their oracle."
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
        ui.refreshed_caption()


market_vs_oracle()
