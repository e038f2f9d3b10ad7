"""Feed Health: whether each Chainlink feed still updates within its heartbeat."""

import streamlit as st
from peg_dashboard import data, filters, tables, ui

st.title("Feed Health")
st.caption(
    "A feed publishes a round at least once per heartbeat. Stale: no round within the heartbeat before the "
    "end of the loaded data. Heartbeat misses count the gaps longer than the heartbeat in the loaded rounds. "
    "On an L2 the sequencer's status comes from Chainlink's uptime feed: while it is down, and for the chain's "
    "grace period after it is back, the chain's prices are untrusted."
)


@st.fragment(run_every=ui.REFRESH_EVERY)
def feed_health() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        staleness = data.feed_staleness(selection.feed)
        if staleness.empty:
            ui.empty_state("feeds", selection)
        else:
            metrics = {
                "Feeds": f"{len(staleness)}",
                "Stale feeds": f"{int(staleness['is_stale'].sum())}",
                "Heartbeat misses": f"{int(staleness['heartbeat_misses'].sum())}",
            }
            on_l2 = staleness["sequencer_status"].notna()
            if on_l2.any():
                untrusted = staleness["sequencer_status"].isin(data.SEQUENCER_UNTRUSTED)
                metrics["Untrusted (sequencer)"] = f"{int(untrusted.sum())} of {int(on_l2.sum())}"
            ui.metrics(metrics)
            ui.freshness_cards(staleness)
            tables.feed_staleness(staleness)
        ui.refreshed_caption()


feed_health()
