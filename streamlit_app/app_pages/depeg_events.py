"""Depeg Events: every run of rounds beyond the warning threshold, worst first, and each day's status."""

import pandas as pd
import streamlit as st
from peg_dashboard import charts, data, filters, ui

st.title("Depeg Events")


@st.fragment(run_every=ui.REFRESH_EVERY)
def depeg_events() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        st.caption(
            f"An event starts at the first round {ui.warning_text(ui.feeds_in_view(selection))} or more from "
            "the peg and ends at the first round back within it; without one it is still open."
        )
        events = data.depeg_events(selection.feed, selection.start, selection.end)
        columns = st.columns(3)
        columns[0].metric("Events in view", f"{len(events)}", border=True)
        columns[1].metric("Open now", f"{int(events['is_open'].sum()) if len(events) else 0}", border=True)
        worst = f"{events['worst_abs_deviation_bps'].max():,.1f} bps" if len(events) else "—"
        columns[2].metric("Worst deviation", worst, border=True)
        if events.empty:
            ui.empty_state("depeg events", selection)
        else:
            version = data.data_version()
            data_end = pd.Timestamp(version.data_as_of) if version.data_as_of else pd.Timestamp(selection.end)
            st.altair_chart(charts.event_timeline(events, data_end), width="stretch")
            table = events.assign(duration=events["duration_seconds"].map(ui.seconds_to_text))
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_order=[
                    "symbol",
                    "worst_status",
                    "worst_deviation_bps",
                    "worst_price_usd",
                    "started_at",
                    "ended_at",
                    "duration",
                    "rounds_off_peg",
                    "is_open",
                ],  # fmt: skip
                column_config={
                    "symbol": "Token",
                    "worst_status": "Worst status",
                    "worst_deviation_bps": st.column_config.NumberColumn("Worst deviation (bps)", format="%+.1f"),
                    "worst_price_usd": st.column_config.NumberColumn("Worst price (USD)", format="%.6f"),
                    "started_at": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm"),
                    "ended_at": st.column_config.DatetimeColumn("Ended (UTC)", format="YYYY-MM-DD HH:mm"),
                    "duration": "Duration",
                    "rounds_off_peg": st.column_config.NumberColumn("Rounds off peg", format="%d"),
                    "is_open": st.column_config.CheckboxColumn("Open"),
                },
            )

        st.subheader("Daily status")
        daily = data.daily_status(selection.feed, selection.first_day, selection.last_day)
        if daily.empty:
            ui.empty_state("days", selection)
        else:
            st.caption("Each UTC day's worst peg status (no_data: no price in effect that day).")
            st.altair_chart(charts.daily_status_chart(daily), width="stretch")
        ui.refreshed_caption()


depeg_events()
