"""The pages' tables: which columns of a mart's rows each shows, in what order, and how."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from peg_dashboard import ui

if TYPE_CHECKING:
    import pandas as pd

_TIME = "YYYY-MM-DD HH:mm"
_TIME_SECONDS = "YYYY-MM-DD HH:mm:ss"


def _table(frame: pd.DataFrame, columns: dict[str, Any]) -> None:
    """`frame` as a full-width table of `columns` (name -> label or column config), in that order."""
    st.dataframe(frame, hide_index=True, width="stretch", column_order=list(columns), column_config=columns)


def latest_updates(updates: pd.DataFrame) -> None:
    _table(
        updates,
        {
            "served_from": st.column_config.DatetimeColumn("Price since (UTC)", format=_TIME_SECONDS),
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


def flagged_hours(flagged: pd.DataFrame) -> None:
    _table(
        flagged,
        {
            "hour_at": st.column_config.DatetimeColumn("Hour (UTC)", format=_TIME),
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


def depeg_events(events: pd.DataFrame) -> None:
    _table(
        events.assign(duration=events["duration_seconds"].map(ui.seconds_to_text)),
        {
            "symbol": "Token",
            "worst_status": "Worst status",
            "seen_by": st.column_config.TextColumn(
                "Seen by",
                help="both: a confirmed depeg (the oracle and the market beyond the threshold, same side); "
                "market: the market alone (the oracle lagging, frozen or not moved)",
            ),
            "worst_deviation_bps": st.column_config.NumberColumn("Worst deviation (bps)", format="%+.1f"),
            "worst_price_usd": st.column_config.NumberColumn("Worst price (USD)", format="%.6f"),
            "started_at": st.column_config.DatetimeColumn("Started (UTC)", format=_TIME),
            "market_crossed_at": st.column_config.DatetimeColumn("Market crossed (UTC)", format=_TIME),
            "ended_at": st.column_config.DatetimeColumn("Ended (UTC)", format=_TIME),
            "duration": "Duration",
            "rounds_off_peg": st.column_config.NumberColumn("Rounds off peg", format="%d"),
            "is_open": st.column_config.CheckboxColumn("Open"),
        },
    )


def feed_staleness(staleness: pd.DataFrame) -> None:
    """The staleness mart's rows; the sequencer's columns only when a feed is on an L2."""
    durations = {"heartbeat": "heartbeat_seconds", "since_last_update": "seconds_since_last_update",
                 "max_gap": "max_gap_seconds"}  # fmt: skip
    columns = {
        "symbol": "Token",
        "feed_pair": "Feed",
        "is_stale": st.column_config.CheckboxColumn("Stale"),
        "heartbeat": "Heartbeat",
        "last_updated_at": st.column_config.DatetimeColumn("Last round (UTC)", format=_TIME_SECONDS),
        "since_last_update": "Since last round",
        "data_as_of": st.column_config.DatetimeColumn("Data as of (UTC)", format=_TIME),
        "rounds_loaded": st.column_config.NumberColumn("Rounds loaded", format="%d"),
        "max_gap": "Longest gap",
        "heartbeat_misses": st.column_config.NumberColumn("Heartbeat misses", format="%d"),
        "last_heartbeat_miss_at": st.column_config.DatetimeColumn("Last miss (UTC)", format=_TIME),
        "chain": "Chain",
        "sequencer_status": "Sequencer",
        "sequencer_status_since": st.column_config.DatetimeColumn("Sequencer status since (UTC)", format=_TIME),
        "proxy_address": "Proxy",
    }
    if staleness["sequencer_status"].isna().all():
        columns = {k: v for k, v in columns.items() if not k.startswith("sequencer_")}
    _table(
        staleness.assign(**{name: staleness[column].map(ui.seconds_to_text) for name, column in durations.items()}),
        columns,
    )
