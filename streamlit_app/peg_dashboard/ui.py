"""Shared UI pieces: the sidebar's connection panel and guide, status badges, error and empty states,
the pages' cards, metric rows and rows of charts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

import pandas as pd
import streamlit as st

from peg_dashboard import __version__, charts, connection, data
from peg_dashboard.config import ConfigurationError

if TYPE_CHECKING:
    import altair as alt
    from streamlit.delta_generator import DeltaGenerator

    from peg_dashboard.filters import Selection

T = TypeVar("T")

REFRESH_EVERY = "60s"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!$:~|<>])")  # shown as typed, not as markdown
STATUS_BADGES = {
    "healthy": ("green", ":material/check_circle:"),
    "warning": ("orange", ":material/warning:"),
    "critical": ("red", ":material/error:"),
    "no data": ("gray", ":material/help:"),
}
SEQUENCER_BADGES = {
    "up": ("green", ":material/check_circle:"),
    "grace": ("orange", ":material/hourglass_top:"),
    "down": ("red", ":material/cloud_off:"),
    "unknown": ("gray", ":material/help:"),
}
GUIDE = """
- **Peg Deviation**: each token's status now (healthy, warning or critical by the feed's own
  thresholds from the registry, 50 and 100 bps by default) with the market's price beside it,
  its price, its deviation with the bands, and the latest Chainlink rounds. Refreshes every minute.
- **Peg Z-Score**: how unusual each hour's price is against the rolling 24 h mean and standard
  deviation; |z| > 1 is unusual, |z| > 2 an outlier.
- **Depeg Events**: every run of rounds beyond the feed's warning threshold, worst first, who saw it
  (the oracle, or both it and the market: a confirmed depeg), and each day's status.
- **Market vs Oracle**: each token's oracle price beside its market price (the depth-weighted
  median of its pools), their divergence, and the periods of a silent oracle or a thin market.
- **Feed Health**: whether each feed still updates within its heartbeat, and on an L2 whether its
  sequencer is up: while it is down, and for a grace period after, the chain's prices are untrusted
  (kept and shown, marked so).

The token and date range apply to every page and are kept in the link, e.g.
`?feed=USDC&start=2026-03-01&end=2026-03-31`. Times are UTC.
"""


def status_badge(status: str) -> None:
    color, icon = STATUS_BADGES.get(status, STATUS_BADGES["no data"])
    st.badge(status, color=color, icon=icon)


def data_label_banner(status: connection.ConnectionStatus) -> None:
    """The configured data label (the local stack's SIMULATED history) above every page, if any."""
    if status.data_label:
        escaped = MARKDOWN_SPECIAL.sub(r"\\\1", status.data_label)
        st.warning(f"**{escaped}**", icon=":material/science:")


def connection_panel(status: connection.ConnectionStatus) -> None:
    """The sidebar's live connection check: where the app reads from, never a secret."""
    summary = status.summary
    with st.container(border=True):
        st.markdown("**Connection**")
        if status.ok:
            st.markdown(f":green[:material/check_circle:] Connected to the **{summary['backend']}**")
        else:
            st.markdown(f":red[:material/cancel:] Not connected ({summary.get('backend', 'not configured')})")
        details = [f"{name} `{summary[name]}`" for name in ("account", "database", "schema") if name in summary]
        if "address" in summary:
            details.append(f"at `{summary['address']}`")
        if status.latency_ms is not None:
            details.append(f"{status.latency_ms:.0f} ms")
        if details:
            st.caption(" · ".join(details))


def version_caption() -> None:
    try:
        version = data.data_version()
    except (connection.DataError, ConfigurationError):
        return
    as_of = f"{version.data_as_of:%Y-%m-%d %H:%M} UTC" if version.data_as_of else "no data"
    st.caption(f"Data version `{version.token}` · data as of {as_of} · app {__version__}")


@st.fragment(run_every=REFRESH_EVERY)
def live_status() -> None:
    """The connection panel and data version, re-checked every minute (call it inside `with st.sidebar`)."""
    connection_panel(connection.connection_status())
    version_caption()


def guide() -> None:
    with st.sidebar.expander("Guide", icon=":material/help:"):
        st.markdown(GUIDE)


@contextmanager
def data_errors() -> Iterator[None]:
    """Show a data-layer failure as an error (what to fix, no traceback) instead of raising."""
    try:
        yield
    except (connection.DataError, ConfigurationError) as exc:
        st.error(str(exc), icon=":material/cloud_off:")


def empty_state(what: str, selection: Selection) -> None:
    st.info(
        f"No {what} for {selection.label} in {selection.period}. Widen the date range or pick another token.",
        icon=":material/inbox:",
    )


def refreshed_caption() -> None:
    version = data.data_version()
    st.caption(
        f"Refreshed {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC · refreshes every minute · data version `{version.token}`"
    )


def seconds_to_text(seconds: float | None) -> str:
    """A duration like `2 d 3 h`, `4 h 10 min` or `35 min`."""
    if seconds is None or seconds != seconds:
        return "—"
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def feeds_in_view(selection: Selection) -> list[data.Feed]:
    return [selection.feed] if selection.feed else data.feeds()


def by_thresholds(feeds: list[data.Feed]) -> dict[tuple[int, int], list[data.Feed]]:
    """Feeds grouped by their (warning_bps, critical_bps), most common first."""
    groups: dict[tuple[int, int], list[data.Feed]] = {}
    for feed in feeds:
        groups.setdefault(feed.thresholds, []).append(feed)
    return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def thresholds_text(feeds: list[data.Feed]) -> str:
    """'warning from 50 bps, critical from 100 bps', naming the feeds when thresholds differ."""
    groups = by_thresholds(feeds)
    parts = [
        (f"{', '.join(names(members, feeds, lambda f: f.thresholds))}: " if len(groups) > 1 else "")
        + f"warning from {warning} bps, critical from {critical} bps"
        for (warning, critical), members in groups.items()
    ]
    return "; ".join(parts) if parts else "no feed in view"


def warning_text(feeds: list[data.Feed]) -> str:
    """'50 bps', or each feed's warning threshold when they differ."""
    warnings: dict[int, list[data.Feed]] = {}
    for feed in feeds:
        warnings.setdefault(feed.warning_bps, []).append(feed)
    if len(warnings) <= 1:
        return f"{next(iter(warnings))} bps" if warnings else "the feed's warning threshold"
    named = (f"{', '.join(names(m, feeds, lambda f: f.warning_bps))}: {w} bps" for w, m in warnings.items())
    return "its feed's warning threshold (" + "; ".join(named) + ")"


def names(
    members: list[data.Feed],
    feeds: list[data.Feed],
    key: Callable[[data.Feed], object],
    token: Callable[[data.Feed], str] = attrgetter("symbol"),
    on_chain: str = "{token} ({chain})",
) -> list[str]:
    """The members' tokens (or pairs), each once; an L2's named `on_chain` where the same one on another
    chain in `feeds` has another `key` (USDC's thresholds on Arbitrum need not be Ethereum's), as the
    charts' legends name an L2's line."""
    named: list[str] = []
    for feed in members:
        split = feed.chain != "ethereum" and any(
            token(other) == token(feed) and key(other) != key(feed) for other in feeds
        )
        name = on_chain.format(token=token(feed), chain=feed.chain) if split else token(feed)
        if name not in named:
            named.append(name)
    return named


def rows_by_feed(frame: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Rows by (chain, proxy): the same pair on two chains is two feeds."""
    return {(row["chain"], row["proxy_address"]): row for _, row in frame.iterrows()}


def grid(items: Sequence[T], per_row: int) -> Iterator[tuple[DeltaGenerator, T]]:
    """Lay `items` out `per_row` to a row: yields each item with the column it goes in."""
    for first in range(0, len(items), per_row):
        yield from zip(st.columns(per_row), items[first : first + per_row], strict=False)


def metrics(values: dict[str, str]) -> None:
    """A row of bordered metrics, label -> value."""
    for column, (label, value) in zip(st.columns(len(values)), values.items(), strict=True):
        column.metric(label, value, border=True)


def market_text(row: pd.Series | None) -> str:
    """The second witness under a status card: the market's price and the oracle's divergence from
    it, or why there is none."""
    if row is None:
        return "Market: no pools read"
    if row["is_thin_market"]:
        return f"Market: thin at {row['priced_at']:%Y-%m-%d %H:%M} UTC (no pool deep enough to trust)"
    verdict = " · **silent oracle**" if row["is_silent_oracle"] else " · divergent" if row["is_divergent"] else ""
    return f"Market ${row['market_price_usd']:.4f} · oracle {row['divergence_bps']:+.0f} bps off it{verdict}"


def status_cards(feeds: list[data.Feed], status: pd.DataFrame, market: pd.DataFrame) -> None:
    """A card per feed: its price and deviation from the peg in `status` (the latest round), the
    status badge, and the market beside it (`market`, its last verdict)."""
    rows, markets = rows_by_feed(status), rows_by_feed(market)
    several_chains = len({f.chain for f in feeds}) > 1
    for column, feed in grid(feeds, 4):
        with column, st.container(border=True):
            row = rows.get((feed.chain, feed.proxy_address))
            label = card_label(feed.symbol, feed.chain, several_chains)
            if row is None:
                st.metric(label, "—", help=f"{feed.feed_pair}: no round before the end of the range")
                status_badge("no data")
                continue
            st.metric(
                label,
                f"${row['price_usd']:.4f}",
                delta=f"{row['deviation_bps']:+.1f} bps",
                delta_color="off",
                help=f"{feed.feed_pair}, the price since {row['served_from']:%Y-%m-%d %H:%M:%S} UTC",
            )
            status_badge(row["peg_status"])
            if row["sequencer_status"] in data.SEQUENCER_UNTRUSTED:
                sequencer_badge(row["sequencer_status"], f"untrusted: {feed.chain} sequencer {row['sequencer_status']}")
            st.caption(market_text(markets.get((feed.chain, feed.proxy_address))))


def card_label(symbol: str, chain: str, several_chains: bool) -> str:
    """A card's title: the token, and its chain once the cards span several (USDC on two is two cards)."""
    return f"{symbol} ({chain})" if several_chains else symbol


def sequencer_badge(status: str, label: str) -> None:
    """An L2 sequencer's status: up (prices trusted), down, in its grace period, or not known yet."""
    color, icon = SEQUENCER_BADGES.get(status, SEQUENCER_BADGES["unknown"])
    st.badge(label, color=color, icon=icon)


def sequencer_since(row: pd.Series) -> str:
    """For a freshness card's caption: since when the L2's sequencer has its status (empty elsewhere)."""
    since = row.get("sequencer_status_since")
    return (
        ""
        if since is None or pd.isna(since)
        else f" · sequencer {row['sequencer_status']} since {since:%Y-%m-%d %H:%M} UTC"
    )


def freshness_cards(staleness: pd.DataFrame) -> None:
    """A card per feed: the time since its last round, fresh or stale (or no round yet: a feed that
    had not gone live by the end of the loaded data), and its heartbeat."""
    several_chains = staleness["chain"].nunique() > 1
    for column, (_, row) in grid(list(staleness.iterrows()), 4):
        with column, st.container(border=True):
            st.metric(
                card_label(row["symbol"], row["chain"], several_chains),
                seconds_to_text(row["seconds_since_last_update"]),
                help=f"{row['feed_pair']}: time from its last round to the end of the loaded data",
            )
            if not row["rounds_loaded"]:
                st.badge("no round yet", color="gray", icon=":material/hourglass_empty:")
            else:
                st.badge(
                    "stale" if row["is_stale"] else "fresh",
                    color="red" if row["is_stale"] else "green",
                    icon=":material/schedule:" if row["is_stale"] else ":material/check_circle:",
                )
            if row["sequencer_status"] is not None and not pd.isna(row["sequencer_status"]):
                sequencer_badge(row["sequencer_status"], f"{row['chain']} sequencer {row['sequencer_status']}")
            st.caption(f"heartbeat {seconds_to_text(row['heartbeat_seconds'])}{sequencer_since(row)}")


def price_charts(series: pd.DataFrame) -> None:
    """A price chart per feed (a pair on two chains is two), two to a row."""
    feeds = list(series.groupby(["feed_pair", "chain"], sort=True))
    for column, ((feed_pair, chain), feed_series) in grid(feeds, 2):
        with column:
            st.markdown(f"**{feed_pair}**" if chain == "ethereum" else f"**{feed_pair}** on {chain}")
            st.altair_chart(charts.price_chart(feed_series), width="stretch")


def deviation_charts(series: pd.DataFrame, feeds: list[data.Feed]) -> None:
    """The deviation chart of each set of thresholds' feeds, over its own warning and critical bands."""
    groups = by_thresholds(feeds)
    for (warning, critical), members in groups.items():
        keys = {(f.chain, f.feed_pair) for f in members}  # a pair on two chains is two feeds
        group = series[[key in keys for key in zip(series["chain"], series["feed_pair"], strict=True)]]
        if group.empty:
            continue
        if len(groups) > 1:
            pairs = sorted(names(members, feeds, lambda f: f.thresholds, attrgetter("feed_pair"), "{token} on {chain}"))
            st.markdown(f"**{', '.join(pairs)}**: warning from {warning} bps, critical from {critical} bps")
        st.altair_chart(charts.deviation_chart(group, warning, critical), width="stretch")


def titled_charts(*titled: tuple[str, alt.TopLevelMixin]) -> None:
    """Charts side by side, each under its subheader."""
    for column, (title, chart) in zip(st.columns(len(titled)), titled, strict=True):
        with column:
            st.subheader(title)
            st.altair_chart(chart, width="stretch")


def data_end(selection: Selection) -> pd.Timestamp:
    """The end of the loaded data (the end of the range without data)."""
    version = data.data_version()
    return pd.Timestamp(version.data_as_of) if version.data_as_of else pd.Timestamp(selection.end)


def zscore_metrics(counts: pd.DataFrame) -> None:
    """Outlier, unusual, scored and all hours in view, from the hours per z-score status."""
    hours = counts.groupby("z_status")["hours"].sum()
    outliers, unusual = int(hours.get("outlier", 0)), int(hours.get("unusual", 0))
    metrics(
        {
            f"Outlier hours (|z| > {data.OUTLIER_ABS_Z})": f"{outliers:,}",
            f"Unusual hours (|z| > {data.UNUSUAL_ABS_Z})": f"{outliers + unusual:,}",
            "Hours with a z-score": f"{int(counts['hours'].sum() - hours.get('no z-score', 0)):,}",
            "Hours in view": f"{int(counts['hours'].sum()):,}",
        }
    )


def verdict_metrics(series: pd.DataFrame) -> None:
    """Hours in view with a divergence, a silent oracle, a thin market, and the widest divergence."""
    hours = series["bucket_at"].nunique()
    widest = series["divergence_bps"].abs().max()
    metrics(
        {
            "Divergent": f"{int(series['divergent'].sum()):,} of {hours:,} periods",
            "Silent oracle": f"{int(series['silent_oracle'].sum()):,}",
            "Thin market": f"{int(series['thin_market'].sum()):,}",
            "Widest divergence": "—" if widest != widest else f"{widest:,.0f} bps",
        }
    )
