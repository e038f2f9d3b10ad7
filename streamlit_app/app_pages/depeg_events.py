"""Depeg Events: every run of rounds (or of market prices) beyond the warning threshold, worst first, and each
day's status."""

import streamlit as st
from peg_dashboard import charts, data, filters, tables, ui

st.title("Depeg Events")


@st.fragment(run_every=ui.REFRESH_EVERY)
def depeg_events() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        st.caption(
            f"An event starts at the first round {ui.warning_text(ui.feeds_in_view(selection))} or more from "
            "the peg and ends at the first round back within it; without one it is still open. An event the "
            "market alone saw (its price that far off, no oracle event then) starts and ends with the market's "
            "readings and has no rounds off peg."
        )
        events = data.depeg_events(selection.feed, selection.start, selection.end)
        ui.metrics(
            {
                "Events in view": f"{len(events)}",
                "Open now": f"{int(events['is_open'].sum()) if len(events) else 0}",
                "Worst deviation": f"{events['worst_abs_deviation_bps'].max():,.1f} bps" if len(events) else "—",
            }
        )
        if events.empty:
            ui.empty_state("depeg events", selection)
        else:
            st.altair_chart(charts.event_timeline(events, ui.data_end(selection)), width="stretch")
            tables.depeg_events(events)

        st.subheader("Daily status")
        daily = data.daily_status(selection.feed, selection.first_day, selection.last_day)
        if daily.empty:
            ui.empty_state("days", selection)
        else:
            st.caption("Each UTC day's worst peg status (no_data: no price in effect that day).")
            st.altair_chart(charts.daily_status_chart(daily), width="stretch")
        ui.refreshed_caption()


depeg_events()
