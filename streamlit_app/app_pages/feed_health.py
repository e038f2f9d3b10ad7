"""Feed Health: whether each Chainlink feed still updates within its heartbeat."""

import streamlit as st
from peg_dashboard import data, filters, tables, ui

st.title("Feed Health")
st.caption(
    "A feed publishes a round at least once per heartbeat. Stale: no round within the heartbeat before the "
    "end of the loaded data. Heartbeat misses count the gaps longer than the heartbeat in the loaded rounds."
)


@st.fragment(run_every=ui.REFRESH_EVERY)
def feed_health() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        staleness = data.feed_staleness(selection.feed)
        if staleness.empty:
            ui.empty_state("feeds", selection)
        else:
            ui.metrics(
                {
                    "Feeds": f"{len(staleness)}",
                    "Stale feeds": f"{int(staleness['is_stale'].sum())}",
                    "Heartbeat misses": f"{int(staleness['heartbeat_misses'].sum())}",
                }
            )
            ui.freshness_cards(staleness)
            tables.feed_staleness(staleness)
        ui.refreshed_caption()


feed_health()
