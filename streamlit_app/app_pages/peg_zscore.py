"""Peg Z-Score: how unusual each hour's price is against its rolling 24 h mean and deviation."""

import streamlit as st
from peg_dashboard import charts, data, filters, ui

st.title("Peg Z-Score")
st.caption(
    "Hourly prices (the last round carried forward) against the rolling 24 h mean and standard deviation: "
    f"z = (price - mean) / std. Unusual when |z| > {data.UNUSUAL_ABS_Z}, outlier when |z| > {data.OUTLIER_ABS_Z}; "
    "no z-score while the window is flat or has fewer than two hours."
)


@st.fragment(run_every=ui.REFRESH_EVERY)
def peg_zscore() -> None:
    selection = filters.current_selection()
    with ui.data_errors():
        counts = data.zscore_status_counts(selection.feed, selection.start, selection.end)
        if counts.empty:
            ui.empty_state("hourly prices", selection)
            ui.refreshed_caption()
            return
        hours = counts.groupby("z_status")["hours"].sum()
        outliers, unusual = int(hours.get("outlier", 0)), int(hours.get("unusual", 0))
        scored = int(counts["hours"].sum() - hours.get("no z-score", 0))
        columns = st.columns(4)
        columns[0].metric(f"Outlier hours (|z| > {data.OUTLIER_ABS_Z})", f"{outliers:,}", border=True)
        columns[1].metric(f"Unusual hours (|z| > {data.UNUSUAL_ABS_Z})", f"{outliers + unusual:,}", border=True)
        columns[2].metric("Hours with a z-score", f"{scored:,}", border=True)
        columns[3].metric("Hours in view", f"{int(counts['hours'].sum()):,}", border=True)

        series = data.zscore_series(selection.feed, selection.start, selection.end)
        bucket = data.zscore_bucket_hours(selection.start, selection.end)
        per = "hour" if bucket == 1 else f"{bucket} hours"
        st.subheader("Z-score heatmap")
        st.caption(f"The most extreme z-score per token and {per} (blue below the mean, red above).")
        st.altair_chart(charts.zscore_heatmap(series), width="stretch")
        st.subheader("Z-score over time")
        st.caption("Shaded: within ±1σ (normal) and between 1σ and 2σ (unusual); beyond ±2σ is an outlier.")
        st.altair_chart(charts.zscore_series_chart(series), width="stretch")

        left, right = st.columns(2)
        with left:
            st.subheader("Z-score distribution")
            st.altair_chart(
                charts.zscore_histogram_chart(data.zscore_histogram(selection.feed, selection.start, selection.end)),
                width="stretch",
            )
        with right:
            st.subheader("Status distribution")
            st.altair_chart(charts.zscore_status_chart(counts), width="stretch")

        left, right = st.columns(2)
        with left:
            st.subheader("Rolling 24 h mean")
            st.altair_chart(charts.rolling_chart(series, "rolling_mean_24h", "mean (USD)", ".6f"), width="stretch")
        with right:
            st.subheader("Rolling 24 h standard deviation")
            st.altair_chart(charts.rolling_chart(series, "rolling_stddev_24h", "std (USD)", ".6f"), width="stretch")

        st.subheader("Outliers and unusual hours")
        flagged = data.flagged_hours(selection.feed, selection.start, selection.end)
        if flagged.empty:
            st.info(f"No hour with |z| > {data.UNUSUAL_ABS_Z} for {selection.label} in {selection.period}.")
        else:
            shown = f"the {len(flagged)} most extreme" if len(flagged) == data.FLAGGED_HOURS_LIMIT else "all"
            st.caption(f"Hours with |z| > {data.UNUSUAL_ABS_Z}, {shown}, most extreme first.")
            st.dataframe(
                flagged,
                hide_index=True,
                width="stretch",
                column_config={
                    "hour_at": st.column_config.DatetimeColumn("Hour (UTC)", format="YYYY-MM-DD HH:mm"),
                    "symbol": "Token",
                    "feed_pair": "Feed",
                    "flag": "Flag",
                    "z_score": st.column_config.NumberColumn("z-score", format="%+.3f"),
                    "price_usd": st.column_config.NumberColumn("Price (USD)", format="%.6f"),
                    "rolling_mean_24h": st.column_config.NumberColumn("24 h mean", format="%.6f"),
                    "rolling_stddev_24h": st.column_config.NumberColumn("24 h std", format="%.6f"),
                    "observations_24h": st.column_config.NumberColumn("Hours in window", format="%d"),
                },
            )
        ui.refreshed_caption()


peg_zscore()
