"""Feed Health: whether each Chainlink feed still updates within its heartbeat."""

import streamlit as st
from peg_dashboard import data, filters, ui

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
            ui.refreshed_caption()
            return
        columns = st.columns(3)
        columns[0].metric("Feeds", f"{len(staleness)}", border=True)
        columns[1].metric("Stale feeds", f"{int(staleness['is_stale'].sum())}", border=True)
        columns[2].metric("Heartbeat misses", f"{int(staleness['heartbeat_misses'].sum())}", border=True)

        for row_feeds in [staleness.iloc[i : i + 4] for i in range(0, len(staleness), 4)]:
            for column, (_, row) in zip(st.columns(4), row_feeds.iterrows(), strict=False):
                with column, st.container(border=True):
                    st.metric(
                        row["symbol"],
                        ui.seconds_to_text(row["seconds_since_last_update"]),
                        help=f"{row['feed_pair']}: time from its last round to the end of the loaded data",
                    )
                    st.badge(
                        "stale" if row["is_stale"] else "fresh",
                        color="red" if row["is_stale"] else "green",
                        icon=":material/schedule:" if row["is_stale"] else ":material/check_circle:",
                    )
                    st.caption(f"heartbeat {ui.seconds_to_text(row['heartbeat_seconds'])}")

        st.dataframe(
            staleness.assign(
                heartbeat=staleness["heartbeat_seconds"].map(ui.seconds_to_text),
                since_last_update=staleness["seconds_since_last_update"].map(ui.seconds_to_text),
                max_gap=staleness["max_gap_seconds"].map(ui.seconds_to_text),
            ),
            hide_index=True,
            width="stretch",
            column_order=[
                "symbol",
                "feed_pair",
                "is_stale",
                "heartbeat",
                "last_updated_at",
                "since_last_update",
                "data_as_of",
                "rounds_loaded",
                "max_gap",
                "heartbeat_misses",
                "last_heartbeat_miss_at",
                "chain",
                "proxy_address",
            ],  # fmt: skip
            column_config={
                "symbol": "Token",
                "feed_pair": "Feed",
                "is_stale": st.column_config.CheckboxColumn("Stale"),
                "heartbeat": "Heartbeat",
                "last_updated_at": st.column_config.DatetimeColumn("Last round (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "since_last_update": "Since last round",
                "data_as_of": st.column_config.DatetimeColumn("Data as of (UTC)", format="YYYY-MM-DD HH:mm"),
                "rounds_loaded": st.column_config.NumberColumn("Rounds loaded", format="%d"),
                "max_gap": "Longest gap",
                "heartbeat_misses": st.column_config.NumberColumn("Heartbeat misses", format="%d"),
                "last_heartbeat_miss_at": st.column_config.DatetimeColumn("Last miss (UTC)", format="YYYY-MM-DD HH:mm"),
                "chain": "Chain",
                "proxy_address": "Proxy",
            },
        )
        ui.refreshed_caption()


feed_health()
