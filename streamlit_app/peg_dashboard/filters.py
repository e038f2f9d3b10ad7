"""The sidebar filters (token, UTC date range), kept in the URL as `?feed=...&start=...&end=...`.

Links may carry bad values: an unknown feed, a malformed or out-of-range date, a start after the
end. Those are ignored with a warning saying what was ignored; unknown parameters are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import streamlit as st

from peg_dashboard import data

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ALL_FEEDS = "All feeds"
DEFAULT_DAYS = 30
FEED_KEY = "filter_feed"
DATES_KEY = "filter_dates"
_STATE_KEY = "filter_state"
_WARNINGS_KEY = "filter_warnings"


@dataclass(frozen=True)
class Selection:
    """What the pages show: one feed or all, over whole UTC days [first_day, last_day]."""

    feed: data.Feed | None
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time())

    @property
    def end(self) -> datetime:
        """Exclusive: the midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time())

    @property
    def label(self) -> str:
        return self.feed.feed_pair if self.feed else "all feeds"

    @property
    def period(self) -> str:
        if self.first_day == self.last_day:
            return f"{self.first_day:%Y-%m-%d} (UTC)"
        return f"{self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d} (UTC)"


def feed_labels(feeds: Sequence[data.Feed]) -> dict[str, data.Feed]:
    """Selector label -> feed; the pair alone unless it exists on more than one chain."""
    pairs = [f.feed_pair for f in feeds]
    return {(f.feed_pair if pairs.count(f.feed_pair) == 1 else f"{f.feed_pair} ({f.chain})"): f for f in feeds}


def parse_query_params(
    params: Mapping[str, str], feeds: Sequence[data.Feed], bounds: tuple[date, date]
) -> tuple[str, tuple[date, date], list[str]]:
    """The feed label and date range a link asks for, the defaults where it asks for nothing
    usable, and a message for every value ignored."""
    first, last = bounds
    labels = feed_labels(feeds)
    problems: list[str] = []
    label = ALL_FEEDS
    wanted = str(params.get("feed", "")).strip()
    if wanted and wanted.lower() not in ("all", ALL_FEEDS.lower()):
        # "USDC/USD (arbitrum)" names one chain's feed even where the pair is on one chain only (alert links)
        matches = [
            name
            for name, feed in labels.items()
            if wanted.lower()
            in (name.lower(), feed.feed_pair.lower(), feed.symbol.lower(), f"{feed.feed_pair} ({feed.chain})".lower())
        ]
        if matches:
            label = matches[0]
        else:
            problems.append(f"Ignored `feed={wanted[:40]}`: no such feed in the data; showing all feeds.")
    start = _parse_day(params, "start", problems) or max(first, last - timedelta(days=DEFAULT_DAYS - 1))
    end = _parse_day(params, "end", problems) or last
    if start > end:
        problems.append(f"Ignored the range {start} to {end}: the start is after the end.")
        start, end = max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last
    clamped = (min(max(start, first), last), min(max(end, first), last))
    if clamped != (start, end):
        problems.append(f"The data covers {first} to {last} (UTC); the date range was narrowed to fit.")
    return label, clamped, problems


def _parse_day(params: Mapping[str, str], name: str, problems: list[str]) -> date | None:
    value = str(params.get(name, "")).strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"Ignored `{name}={value[:40]}`: not a date like 2026-01-31.")
        return None


def sidebar(feeds: Sequence[data.Feed], bounds: tuple[date, date]) -> Selection:
    """Draw the token and date-range selectors in the sidebar; remember and return the selection."""
    first, last = bounds
    labels = feed_labels(feeds)
    state = st.session_state.get(_STATE_KEY)
    if state is None:
        label, dates, problems = parse_query_params(st.query_params.to_dict(), feeds, bounds)
        st.session_state[FEED_KEY] = label
        st.session_state[DATES_KEY] = dates
        st.session_state[_WARNINGS_KEY] = problems
        state = {"last_day_seen": last}
    else:
        _keep_in_bounds(labels, bounds, state["last_day_seen"])
        state["last_day_seen"] = last
    st.session_state[_STATE_KEY] = state

    st.sidebar.subheader("Filters")
    label = st.sidebar.selectbox(
        "Token", [ALL_FEEDS, *labels], key=FEED_KEY, help="Every feed in the marts, or all of them."
    )
    dates = st.sidebar.date_input(
        "Date range (UTC days)",
        key=DATES_KEY,
        min_value=first,
        max_value=last,
        format="YYYY-MM-DD",
        help="Whole UTC days. While the range ends on the last day of data it follows new days as they land.",
    )
    first_day, last_day = (dates[0], dates[-1]) if dates else (first, last)
    selection = Selection(feed=labels.get(label), first_day=first_day, last_day=last_day)
    wanted = {"feed": selection.feed.symbol if selection.feed else "all", "start": str(first_day), "end": str(last_day)}
    if selection.feed and len([f for f in feeds if f.symbol == selection.feed.symbol]) > 1:
        wanted["feed"] = label
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    st.session_state["selection"] = selection
    return selection


def _keep_in_bounds(labels: Mapping[str, data.Feed], bounds: tuple[date, date], last_day_seen: date) -> None:
    """Before the widgets are drawn: drop a feed that left the data, keep the dates inside the
    data, and move a range that ended on the last day of data to the new last day."""
    first, last = bounds
    if st.session_state.get(FEED_KEY) not in (ALL_FEEDS, *labels):
        st.session_state[FEED_KEY] = ALL_FEEDS
    dates = tuple(st.session_state.get(DATES_KEY) or (first, last))
    start, end = dates[0], dates[-1]
    if end == last_day_seen and last > last_day_seen:
        end = last
    start, end = min(max(start, first), last), min(max(end, first), last)
    if (start, end) != dates:
        st.session_state[DATES_KEY] = (start, end)


def current_selection() -> Selection:
    """The selection the router stored this run; inside an auto-refresh it follows new days."""
    selection: Selection = st.session_state["selection"]
    bounds = data.day_bounds()
    state = st.session_state.get(_STATE_KEY) or {}
    if bounds and selection.last_day == state.get("last_day_seen") and bounds[1] > selection.last_day:
        selection = Selection(selection.feed, selection.first_day, bounds[1])
    return selection


def pop_warnings() -> list[str]:
    """The messages about ignored link parameters, once."""
    return st.session_state.pop(_WARNINGS_KEY, None) or []
