"""Peg Z-Score: how unusual each hour's price is against its rolling 24 h mean and deviation."""

import streamlit as st
from peg_dashboard import charts, data, filters, tables, ui

st.title("Peg Z-Score")
st.caption(
    "Hourly prices (the last round carried forward) against the rolling 24 h mean and standard deviation: "
    f"z = (price - mean) / std. Unusual when |z| > {data.UNUSUAL_ABS_Z}, outlier when |z| > {data.OUTLIER_ABS_Z}; "
    "no z-score while the window is flat or has fewer than two hours."
)


@st.fragment(run_every=ui.REFRESH_EVERY)
def peg_zscore() -> None:
    selection = filters.current_selection()
    start, end = selection.start, selection.end
    with ui.data_errors():
        counts = data.zscore_status_counts(selection.feed, start, end)
        if counts.empty:
            ui.empty_state("hourly prices", selection)
            ui.refreshed_caption()
            return
        ui.zscore_metrics(counts)
        series = data.zscore_series(selection.feed, start, end)
        bucket = data.zscore_bucket_hours(start, end)
        st.subheader("Z-score heatmap")
        per = "hour" if bucket == 1 else f"{bucket} hours"
        st.caption(f"The most extreme z-score per token and {per} (blue below the mean, red above).")
        st.altair_chart(charts.zscore_heatmap(series), width="stretch")
        st.subheader("Z-score over time")
        st.caption("Shaded: within ±1σ (normal) and between 1σ and 2σ (unusual); beyond ±2σ is an outlier.")
        st.altair_chart(charts.zscore_series_chart(series), width="stretch")
        ui.titled_charts(
            ("Z-score distribution", charts.zscore_histogram_chart(data.zscore_histogram(selection.feed, start, end))),
            ("Status distribution", charts.zscore_status_chart(counts)),
        )
        ui.titled_charts(
            ("Rolling 24 h mean", charts.rolling_chart(series, "rolling_mean_24h", "mean (USD)", ".6f")),
            ("Rolling 24 h standard deviation", charts.rolling_chart(series, "rolling_stddev_24h", "std (USD)", ".6f")),
        )

        st.subheader("Outliers and unusual hours")
        flagged = data.flagged_hours(selection.feed, start, end)
        if flagged.empty:
            st.info(f"No hour with |z| > {data.UNUSUAL_ABS_Z} for {selection.label} in {selection.period}.")
        else:
            shown = f"the {len(flagged)} most extreme" if len(flagged) == data.FLAGGED_HOURS_LIMIT else "all"
            st.caption(f"Hours with |z| > {data.UNUSUAL_ABS_Z}, {shown}, most extreme first.")
            tables.flagged_hours(flagged)
        ui.refreshed_caption()


peg_zscore()
