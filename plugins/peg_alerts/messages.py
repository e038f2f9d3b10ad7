"""What an alert says: feed, price, deviation in bps, since when, and a link to the dashboard."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from peg_alerts.rules import CRITICAL, HEALTHY, PEG_STATUS, STALE, WARNING, Transition

# apprise's notify types (plain strings: this module does not import apprise)
_NOTIFY_TYPES = {CRITICAL: "failure", WARNING: "warning", STALE: "warning"}


def dashboard_link(transition: Transition, dashboard_url: str) -> str:
    """The dashboard page for the feed around the transition (Peg Deviation, or Feed Health for heartbeats)."""
    day = transition.occurred_at.date()
    page = "/" if transition.kind == PEG_STATUS else "/feed_health"
    query = urlencode({"feed": transition.feed.feed_pair, "start": day - timedelta(days=1), "end": day})
    return f"{dashboard_url}{page}?{query}"


def alert_message(transition: Transition, dashboard_url: str) -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one transition."""
    t = transition
    pair = t.feed.feed_pair
    if t.kind == PEG_STATUS:
        if t.to_status == HEALTHY:
            title = f"RESOLVED {pair} back to healthy (was {t.from_status})"
        else:
            title = f"{t.to_status.upper()} {pair} off peg: ${t.price:.6f} ({t.deviation_bps:+.1f} bps)"
        since = f"{t.occurred_at:%Y-%m-%d %H:%M:%S} UTC (served from then)"
    elif t.to_status == STALE:
        title = f"STALE {pair}: no new round within heartbeat + grace"
        since = f"{t.occurred_at:%Y-%m-%d %H:%M:%S} UTC (price served from {t.served_from:%Y-%m-%d %H:%M:%S} UTC)"
    else:
        title = f"RESOLVED {pair} fresh again: a new round after a missed heartbeat"
        since = f"{t.occurred_at:%Y-%m-%d %H:%M:%S} UTC (served from then)"
    body = "\n".join(
        [
            f"Feed: {pair} ({t.feed.chain}, proxy {t.feed.proxy_address})",
            f"Status: {t.from_status} -> {t.to_status}",
            f"Price: ${t.price:.8f}",
            f"Deviation: {t.deviation_bps:+.2f} bps",
            f"Since: {since}",
            f"Round: {t.round_id}",
            f"Dashboard: {dashboard_link(t, dashboard_url)}",
        ]
    )
    return title, body, _NOTIFY_TYPES.get(t.to_status, "success")
