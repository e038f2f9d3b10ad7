"""Peg Deviation: each token's status, price and deviation from the peg, and the latest rounds."""

import streamlit as st
from peg_dashboard import charts, data, filters, ui

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
        status = ui.rows_by_pair(data.latest_status(selection.feed, selection.end))
        st.subheader(f"Status at the end of {selection.last_day:%Y-%m-%d} (UTC)")
        for row_feeds in [feeds[i : i + 4] for i in range(0, len(feeds), 4)]:
            for column, feed in zip(st.columns(4), row_feeds, strict=False):
                with column, st.container(border=True):
                    row = status.get(feed.feed_pair)
                    if row is None:
                        st.metric(feed.symbol, "—", help=f"{feed.feed_pair}: no round before the end of the range")
                        ui.status_badge("no data")
                        continue
                    st.metric(
                        feed.symbol,
                        f"${row['price_usd']:.4f}",
                        delta=f"{row['deviation_bps']:+.1f} bps",
                        delta_color="off",
                        help=f"{feed.feed_pair}, the price since {row['served_from']:%Y-%m-%d %H:%M:%S} UTC",
                    )
                    ui.status_badge(row["peg_status"])

        series = data.price_series(selection.feed, selection.start, selection.end)
        if series.empty:
            ui.empty_state("Chainlink rounds", selection)
        else:
            bucket = ui.seconds_to_text(data.price_bucket_seconds(selection.start, selection.end))
            st.subheader("Price per token")
            st.caption(f"Closing price per {bucket} (line) and the low-high range (band); dashed: the $1.00 peg.")
            tokens = list(series.groupby("feed_pair", sort=True))
            for pair in [tokens[i : i + 2] for i in range(0, len(tokens), 2)]:
                for column, (feed_pair, token_series) in zip(st.columns(2), pair, strict=False):
                    with column:
                        st.markdown(f"**{feed_pair}**")
                        st.altair_chart(charts.price_chart(token_series), width="stretch")
            st.subheader("Deviation from the peg")
            st.caption(f"The largest deviation per {bucket}, in bps, over the warning and critical bands.")
            groups = ui.by_thresholds(feeds)
            for (warning, critical), members in groups.items():
                pairs = {f.feed_pair for f in members}
                group = series[series["feed_pair"].isin(pairs)]
                if group.empty:
                    continue
                if len(groups) > 1:
                    st.markdown(
                        f"**{', '.join(sorted(pairs))}**: warning from {warning} bps, critical from {critical} bps"
                    )
                st.altair_chart(charts.deviation_chart(group, warning, critical), width="stretch")

        st.subheader("Latest updates")
        updates = data.latest_updates(selection.feed, selection.start, selection.end)
        if updates.empty:
            ui.empty_state("Chainlink rounds", selection)
        else:
            st.caption(f"The {len(updates)} newest rounds in {selection.period}, newest first.")
            st.dataframe(
                updates,
                hide_index=True,
                width="stretch",
                column_order=[
                    "served_from",
                    "symbol",
                    "price_usd",
                    "deviation_pct",
                    "deviation_bps",
                    "peg_status",
                    "seconds_since_previous_update",
                    "is_heartbeat_exceeded",
                    "phase_id",
                    "round_id",
                ],  # fmt: skip
                column_config={
                    "served_from": st.column_config.DatetimeColumn("Price since (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                    "symbol": "Token",
                    "price_usd": st.column_config.NumberColumn("Price (USD)", format="%.6f"),
                    "deviation_pct": st.column_config.NumberColumn("Deviation (%)", format="%+.4f"),
                    "deviation_bps": st.column_config.NumberColumn("Deviation (bps)", format="%+.2f"),
                    "peg_status": "Status",
                    "seconds_since_previous_update": st.column_config.NumberColumn("Gap (s)", format="%d"),
                    "is_heartbeat_exceeded": st.column_config.CheckboxColumn("Heartbeat missed"),
                    "phase_id": "Phase",
                    "round_id": "Round id",
                },
            )
        ui.refreshed_caption()


peg_deviation()
