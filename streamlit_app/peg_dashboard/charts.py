"""Altair charts for the pages (UI only: they take the data layer's frames, never query)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from peg_dashboard.data import OUTLIER_ABS_Z, UNUSUAL_ABS_Z, Z_STATUSES

STATUS_COLORS = {"healthy": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828", "no_data": "#9e9e9e"}
Z_STATUS_COLORS = {"normal": "#2e7d32", "unusual": "#ef6c00", "outlier": "#c62828", "no z-score": "#bdbdbd"}
UTC = alt.Scale(type="utc")
TIME_AXIS = alt.Axis(title="UTC", format="%Y-%m-%d %H:%M", labelAngle=0, labelOverlap=True)
HEIGHT = 260
TOKENS = alt.Scale(scheme="tableau10")
# Built charts, shared by every session: the same frames (cached on the data version) give the same chart.
_reused = st.cache_resource(max_entries=64, show_spinner=False)


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Mark naive UTC timestamps as UTC so the browser draws them in UTC, not its local time."""
    frame = frame.copy()
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
    return frame


@_reused
def price_chart(series: pd.DataFrame) -> alt.LayerChart:
    """One token's closing price per bucket (a step line: a feed holds its price until the next
    round), the bucket's low-high range, and the peg at the bucket's close (dashed: $1, or for a euro
    coin EUR/USD's served price)."""
    frame = _utc(series, "bucket_at")
    color = _token_color(frame)
    # the data on the layer, not on each mark: Altair would otherwise hash the frame's text per mark
    base = alt.Chart().encode(x=alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS))
    band = base.mark_area(opacity=0.2, interpolate="step-after", color=color).encode(
        y=alt.Y("low_price_usd:Q", title="price (USD)", scale=alt.Scale(zero=False)),
        y2="high_price_usd:Q",
    )
    line = base.mark_line(interpolate="step-after", color=color).encode(
        y=alt.Y("close_price_usd:Q", scale=alt.Scale(zero=False)),
        tooltip=[
            alt.Tooltip("symbol:N"),
            alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("close_price_usd:Q", title="close", format=".6f"),
            alt.Tooltip("low_price_usd:Q", title="low", format=".6f"),
            alt.Tooltip("high_price_usd:Q", title="high", format=".6f"),
            alt.Tooltip("rounds:Q"),
        ],
    )
    peg = base.mark_line(interpolate="step-after", strokeDash=[4, 4], color="#616161").encode(
        y=alt.Y("close_peg_usd:Q", scale=alt.Scale(zero=False)),
    )
    return alt.layer(band, line, peg, data=frame).properties(height=200)


def _token_color(frame: pd.DataFrame) -> str:
    palette = ["#1565c0", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#283593", "#558b2f"]
    symbol = str(frame["symbol"].iloc[0]) if len(frame) else ""
    return palette[sum(map(ord, symbol)) % len(palette)]


def deviation_bands(warning_bps: float, critical_bps: float, extent: float) -> pd.DataFrame:
    """The warning and critical bands on both sides of the peg, for one set of thresholds."""
    return pd.DataFrame(
        [
            {"level": "warning", "y": warning_bps, "y2": critical_bps},
            {"level": "warning", "y": -critical_bps, "y2": -warning_bps},
            {"level": "critical", "y": critical_bps, "y2": extent},
            {"level": "critical", "y": -extent, "y2": -critical_bps},
        ]
    )


@_reused
def deviation_chart(series: pd.DataFrame, warning_bps: float, critical_bps: float) -> alt.LayerChart:
    """Deviation from the peg in bps (the signed worst per bucket) of feeds sharing these thresholds,
    over their warning and critical bands."""
    frame = _utc(series, "bucket_at")
    extent = max(float(frame["worst_deviation_bps"].abs().max()), critical_bps * 1.5) * 1.05
    bands = deviation_bands(warning_bps, critical_bps, extent)
    band_colors = alt.Scale(domain=["warning", "critical"], range=[STATUS_COLORS["warning"], STATUS_COLORS["critical"]])
    band_layer = (
        alt.Chart(bands)
        .mark_rect(opacity=0.1)
        .encode(
            y=alt.Y("y:Q", scale=alt.Scale(type="symlog", constant=10, domain=[-extent, extent], nice=False)),
            y2="y2:Q",
            color=alt.Color("level:N", scale=band_colors, title="band"),
        )
    )
    rules = (
        alt.Chart(
            pd.DataFrame(
                {
                    "y": [warning_bps, -warning_bps, critical_bps, -critical_bps],
                    "level": ["warning", "warning", "critical", "critical"],
                }
            )
        )
        .mark_rule(strokeDash=[4, 4])
        .encode(y="y:Q", color=alt.Color("level:N", scale=band_colors, legend=None))
    )
    line = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS),
            y=alt.Y("worst_deviation_bps:Q", title="deviation from peg (bps, symmetric log scale)"),
            stroke=alt.Stroke("symbol:N", title="token", scale=TOKENS),
            tooltip=[
                alt.Tooltip("symbol:N"),
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("worst_deviation_bps:Q", title="worst (bps)", format=".2f"),
                alt.Tooltip("min_deviation_bps:Q", title="min (bps)", format=".2f"),
                alt.Tooltip("max_deviation_bps:Q", title="max (bps)", format=".2f"),
            ],
        )
    )
    return alt.layer(band_layer, rules, line).resolve_scale(color="independent").properties(height=HEIGHT)


def zscore_heatmap(series: pd.DataFrame) -> alt.Chart:
    """Token x time, coloured by the signed most extreme z-score of each bucket."""
    frame = _utc(series, "bucket_at", "bucket_end")
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS),
            x2="bucket_end:T",
            y=alt.Y("symbol:N", title=None),
            color=alt.Color(
                "z_score:Q",
                title="z",
                scale=alt.Scale(scheme="redblue", domain=[-3, 3], clamp=True, reverse=True),
            ),
            tooltip=[
                alt.Tooltip("symbol:N"),
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("z_score:Q", title="most extreme z", format=".2f"),
                alt.Tooltip("z_hours:Q", title="hours with a z-score"),
            ],
        )
        .properties(height=alt.Step(30))
    )


def zscore_series_chart(series: pd.DataFrame) -> alt.LayerChart:
    """z-score over time with the ±1σ (unusual) and ±2σ (outlier) bands."""
    frame = _utc(series.dropna(subset=["z_score"]), "bucket_at")
    extent = max(float(frame["z_score"].abs().max()) if len(frame) else 0.0, OUTLIER_ABS_Z * 1.5) * 1.05
    bands = pd.DataFrame(
        [
            {"band": "±1σ", "y": -UNUSUAL_ABS_Z, "y2": UNUSUAL_ABS_Z},
            {"band": "±2σ", "y": -OUTLIER_ABS_Z, "y2": -UNUSUAL_ABS_Z},
            {"band": "±2σ", "y": UNUSUAL_ABS_Z, "y2": OUTLIER_ABS_Z},
        ]
    )
    band_colors = alt.Scale(domain=["±1σ", "±2σ"], range=["#66bb6a", "#ffa726"])
    band_layer = (
        alt.Chart(bands)
        .mark_rect(opacity=0.15)
        .encode(
            y=alt.Y("y:Q", scale=alt.Scale(domain=[-extent, extent], nice=False), title="z-score"),
            y2="y2:Q",
            color=alt.Color("band:N", scale=band_colors, title="band"),
        )
    )
    rules = (
        alt.Chart(pd.DataFrame({"y": [-OUTLIER_ABS_Z, -UNUSUAL_ABS_Z, UNUSUAL_ABS_Z, OUTLIER_ABS_Z]}))
        .mark_rule(strokeDash=[4, 4], color="#757575")
        .encode(y="y:Q")
    )
    line = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS),
            y="z_score:Q",
            stroke=alt.Stroke("symbol:N", title="token", scale=TOKENS),
            tooltip=[
                alt.Tooltip("symbol:N"),
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("z_score:Q", title="z", format=".2f"),
            ],
        )
    )
    return alt.layer(band_layer, rules, line).resolve_scale(color="independent").properties(height=HEIGHT)


def zscore_histogram_chart(histogram: pd.DataFrame) -> alt.Chart:
    """Hours per half-sigma z-score bin, stacked by token."""
    return (
        alt.Chart(histogram)
        .mark_bar()
        .encode(
            x=alt.X("z_bin:Q", title="z-score (0.5σ bins; tails in the ±6 bins)", scale=alt.Scale(domain=[-6, 6])),
            x2="z_bin_end:Q",
            y=alt.Y("sum(hours):Q", title="hours"),
            color=alt.Color("symbol:N", title="token", scale=TOKENS),
            tooltip=["symbol:N", alt.Tooltip("z_bin:Q", title="from z"), "hours:Q"],
        )
        .properties(height=HEIGHT)
    )


def zscore_status_chart(counts: pd.DataFrame) -> alt.Chart:
    """Hours per token and z-score status."""
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("symbol:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("hours:Q", title="hours"),
            color=alt.Color(
                "z_status:N",
                title="status",
                sort=list(Z_STATUSES),
                scale=alt.Scale(domain=list(Z_STATUSES), range=[Z_STATUS_COLORS[s] for s in Z_STATUSES]),
            ),
            order=alt.Order("z_status_rank:Q"),
            tooltip=["symbol:N", "z_status:N", "hours:Q"],
        )
        .transform_calculate(z_status_rank="indexof(['normal', 'unusual', 'outlier', 'no z-score'], datum.z_status)")
        .properties(height=HEIGHT)
    )


def rolling_chart(series: pd.DataFrame, column: str, title: str, value_format: str) -> alt.Chart:
    """A rolling 24 h statistic per token (the average over each bucket)."""
    frame = _utc(series.dropna(subset=[column]), "bucket_at")
    return (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS),
            y=alt.Y(f"{column}:Q", title=title, scale=alt.Scale(zero=False)),
            color=alt.Color("symbol:N", title="token", scale=TOKENS),
            tooltip=[
                "symbol:N",
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip(f"{column}:Q", title=title, format=value_format),
            ],
        )
        .properties(height=200)
    )


def daily_status_chart(daily: pd.DataFrame) -> alt.Chart:
    """Token x UTC day, coloured by the day's worst peg status."""
    statuses = list(STATUS_COLORS)
    return (
        alt.Chart(_utc(daily, "day"))
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("utcyearmonthdate(day):O", title="UTC day", axis=alt.Axis(format="%m-%d", labelOverlap=True)),
            y=alt.Y("symbol:N", title=None),
            color=alt.Color(
                "day_status:N",
                title="day status",
                scale=alt.Scale(domain=statuses, range=[STATUS_COLORS[s] for s in statuses]),
            ),
            tooltip=[
                "symbol:N",
                alt.Tooltip("utcyearmonthdate(day):T", title="day", format="%Y-%m-%d"),
                "day_status:N",
                alt.Tooltip("worst_abs_deviation_bps:Q", title="worst |deviation| (bps)", format=".1f"),
                alt.Tooltip("rounds:Q"),
            ],
        )
        .properties(height=alt.Step(28))
    )


def event_timeline(events: pd.DataFrame, data_end: pd.Timestamp) -> alt.Chart:
    """Each depeg event as a bar from its start to its end (or the end of the data while open); an
    event the market alone saw is drawn faint: one witness, not the oracle the feed is named for."""
    frame = events.copy()
    frame["until"] = frame["ended_at"].fillna(data_end)
    frame = _utc(frame, "started_at", "until")
    statuses = ["warning", "critical"]
    return (
        alt.Chart(frame)
        .mark_bar(height=14)
        .encode(
            x=alt.X("started_at:T", scale=UTC, axis=TIME_AXIS),
            x2="until:T",
            y=alt.Y("symbol:N", title=None),
            color=alt.Color(
                "worst_status:N",
                title="worst status",
                scale=alt.Scale(domain=statuses, range=[STATUS_COLORS[s] for s in statuses]),
            ),
            opacity=alt.condition(alt.datum.seen_by == "market", alt.value(0.45), alt.value(1.0)),
            tooltip=[
                "symbol:N",
                alt.Tooltip("seen_by:N", title="seen by"),
                alt.Tooltip("started_at:T", title="started (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("until:T", title="ended (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("worst_deviation_bps:Q", title="worst (bps)", format=".1f"),
            ],
        )
        .properties(height=alt.Step(30))
    )


VERDICT_COLORS = {"silent oracle": "#c62828", "thin market": "#9e9e9e"}


def _verdict_spans(frame: pd.DataFrame, bucket: pd.Timedelta) -> pd.DataFrame:
    """The buckets with a silent oracle or a thin market, as [from, until) spans to shade."""
    spans = [
        {"verdict": verdict, "from": row.bucket_at, "until": row.bucket_at + bucket}
        for row in frame.itertuples()
        for verdict, flagged in (("silent oracle", row.silent_oracle), ("thin market", row.thin_market))
        if flagged
    ]
    return pd.DataFrame(spans, columns=["verdict", "from", "until"])


def _bucket_width(frame: pd.DataFrame) -> pd.Timedelta:
    steps = frame["bucket_at"].sort_values().diff().dropna()
    return steps.min() if len(steps) else pd.Timedelta(hours=1)


@_reused
def market_oracle_chart(series: pd.DataFrame) -> alt.LayerChart:
    """One token's two witnesses: the oracle's served price (a step line) and the market's (the
    median of its usable pools), with the silent-oracle and thin-market buckets shaded."""
    frame = _utc(series, "bucket_at")
    spans = _verdict_spans(frame, _bucket_width(frame))
    long = frame.melt(
        id_vars=["bucket_at"],
        value_vars=["oracle_price_usd", "market_price_usd"],
        var_name="witness",
        value_name="price",
    ).replace({"witness": {"oracle_price_usd": "oracle", "market_price_usd": "market"}})
    x = alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS)
    lines = (
        alt.Chart(long)
        .mark_line(interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("price:Q", title="price (USD)", scale=alt.Scale(zero=False)),
            color=alt.Color("witness:N", scale=alt.Scale(domain=["oracle", "market"], range=["#1565c0", "#ef6c00"])),
            tooltip=[
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("witness:N"),
                alt.Tooltip("price:Q", format=".6f"),
            ],
        )
    )
    shade = (
        alt.Chart(spans)
        .mark_rect(opacity=0.15)
        .encode(
            x=alt.X("from:T", scale=UTC),
            x2="until:T",
            color=alt.Color(
                "verdict:N",
                scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
                legend=alt.Legend(title="shaded"),
            ),
        )
    )
    return alt.layer(shade, lines).resolve_scale(color="independent").properties(height=HEIGHT)


@_reused
def divergence_chart(series: pd.DataFrame) -> alt.LayerChart:
    """Oracle minus market in bps (the widest per bucket), inside its +-limit band (the feed's
    deviation threshold plus the margin)."""
    frame = _utc(series, "bucket_at")
    x = alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS)
    band = (
        alt.Chart(frame.assign(low=-frame["divergence_limit_bps"]))
        .mark_area(opacity=0.12, color="#2e7d32", interpolate="step-after")
        .encode(x=x, y=alt.Y("low:Q", title="oracle - market (bps)"), y2="divergence_limit_bps:Q")
    )
    line = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", color="#6a1b9a")
        .encode(
            x=x,
            y="divergence_bps:Q",
            tooltip=[
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("divergence_bps:Q", title="divergence (bps)", format=".1f"),
                alt.Tooltip("divergence_limit_bps:Q", title="limit (bps)", format=".0f"),
                alt.Tooltip("usable_depth_usd:Q", title="depth (USD)", format=",.0f"),
            ],
        )
    )
    return alt.layer(band, line).properties(height=HEIGHT)


def _thin_market_shade(frame: pd.DataFrame) -> alt.Chart:
    """The thin-market buckets of a market series, shaded."""
    spans = _verdict_spans(frame, _bucket_width(frame))
    return (
        alt.Chart(spans[spans["verdict"] == "thin market"])
        .mark_rect(opacity=0.15, color=VERDICT_COLORS["thin market"])
        .encode(x=alt.X("from:T", scale=UTC), x2="until:T")
    )


@_reused
def depth_chart(series: pd.DataFrame) -> alt.LayerChart:
    """The market's usable depth in USD (the thinnest reading per bucket, on a log scale: it falls by
    orders of magnitude when a pool empties), with the thin-market buckets shaded."""
    frame = _utc(series, "bucket_at")
    x = alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS)
    line = (
        alt.Chart(frame[frame["usable_depth_usd"] > 0])
        .mark_line(interpolate="step-after", color="#00695c")
        .encode(
            x=x,
            y=alt.Y("usable_depth_usd:Q", title="usable depth (USD)", scale=alt.Scale(type="log")),
            tooltip=[
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("usable_depth_usd:Q", title="depth (USD)", format=",.0f"),
            ],
        )
    )
    return alt.layer(_thin_market_shade(frame), line).properties(height=HEIGHT)


@_reused
def slippage_chart(series: pd.DataFrame) -> alt.LayerChart:
    """What selling about $1M of the token loses in its best pool, in bps below the pool's price (the
    worst reading per bucket): near zero in a deep market, climbing as liquidity leaves the price;
    thin-market buckets shaded, and gaps where no pool had liquidity in range."""
    frame = _utc(series, "bucket_at")
    x = alt.X("bucket_at:T", scale=UTC, axis=TIME_AXIS)
    line = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", color="#6a1b9a")
        .encode(
            x=x,
            y=alt.Y("quote_slippage_bps:Q", title="sized-quote slippage (bps)"),
            tooltip=[
                alt.Tooltip("bucket_at:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("quote_slippage_bps:Q", title="slippage (bps)", format=",.2f"),
            ],
        )
    )
    return alt.layer(_thin_market_shade(frame), line).properties(height=HEIGHT)
