"""Peg Deviation: each token's status, price and deviation from the peg, and the latest rounds."""

import streamlit as st
from peg_dashboard import data, filters, tables, ui

st.title("Peg Deviation")


@st.fragment(run_every=ui.REFRESH_EVERY)
def peg_deviation() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        feeds = ui.feeds_in_view(selection)
        st.caption(
            f"Chainlink price per token against its peg. Thresholds per feed (from the registry): "
            f"{ui.thresholds_text(feeds)} (1 bp = 0.01 %)."
        )
        status = data.latest_status(selection.feed, selection.end)
        st.subheader(f"Status at the end of {selection.last_day:%Y-%m-%d} (UTC)")
        ui.status_cards(feeds, status, data.latest_market(selection.feed, selection.end))

        series = data.price_series(selection.feed, selection.start, selection.end)
        if series.empty:
            ui.empty_state("Chainlink rounds", selection)
        else:
            bucket = ui.seconds_to_text(data.price_bucket_seconds(selection.start, selection.end))
            st.subheader("Price per token")
            st.caption(
                f"Closing price per {bucket} (line) and the low-high range (band); dashed: the peg "
                "($1.00, or for a feed pegged to another feed that feed's served price)."
            )
            ui.price_charts(series)
            st.subheader("Deviation from the peg")
            st.caption(f"The largest deviation per {bucket}, in bps, over the warning and critical bands.")
            ui.deviation_charts(series, feeds)

        st.subheader("Latest updates")
        updates = data.latest_updates(selection.feed, selection.start, selection.end)
        if updates.empty:
            ui.empty_state("Chainlink rounds", selection)
        else:
            st.caption(f"The {len(updates)} newest rounds in {selection.period}, newest first.")
            tables.latest_updates(updates)
        ui.refreshed_caption()


peg_deviation()
