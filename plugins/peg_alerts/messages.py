"""What an alert says: feed, price, deviation in bps, since when, and a link to the dashboard; for the
market witness, both prices, the divergence and the market's usable depth."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from chainlink_feeds.registry import feed_label
from peg_alerts.market_rules import AGREE, DEEP, DIVERGENT, MARKET_KINDS, SILENT, THIN
from peg_alerts.rules import CRITICAL, HEALTHY, PEG_STATUS, STALE, WARNING, Transition
from peg_alerts.sequencer_rules import DOWN, GRACE, SEQUENCER, UP

# apprise's notify types (plain strings: this module does not import apprise)
_NOTIFY_TYPES = {CRITICAL: "failure", WARNING: "warning", STALE: "warning", SILENT: "failure", DIVERGENT: "warning",
                 THIN: "warning", DOWN: "failure", GRACE: "warning"}  # fmt: skip


def dashboard_link(transition: Transition, dashboard_url: str) -> str:
    """The dashboard page for the feed around the transition (Peg Deviation, or Feed Health for heartbeats)."""
    day = transition.occurred_at.date()
    page = {PEG_STATUS: "/", **dict.fromkeys(MARKET_KINDS, "/market_vs_oracle")}.get(transition.kind, "/feed_health")
    # the feed as the dashboard's selector names one chain's: a pair may be on several
    feed = {} if transition.kind == SEQUENCER else {"feed": f"{transition.feed.feed_pair} ({transition.feed.chain})"}
    query = urlencode({**feed, "start": day - timedelta(days=1), "end": day})
    return f"{dashboard_url}{page}?{query}"


def market_message(t: Transition, dashboard_url: str) -> tuple[str, str, str]:
    """(title, body, notify type) of a market-witness transition: both prices, divergence, depth."""
    pair, market = (
        feed_label(t.feed.feed_pair, t.feed.chain),
        "no price (thin)" if t.market_price is None else f"${t.market_price:.6f}",
    )
    titles = {
        SILENT: f"SILENT ORACLE {pair}: market {market}, oracle still ${t.price:.6f}",
        DIVERGENT: f"DIVERGENT {pair}: oracle ${t.price:.6f} vs market {market}",
        AGREE: f"RESOLVED {pair} oracle and market agree again (was {t.from_status})",
        THIN: f"THIN MARKET {pair}: no pool deep enough to price it",
        DEEP: f"RESOLVED {pair} market deep enough to price again",
    }
    divergence = "unknown" if t.divergence_bps is None else f"{t.divergence_bps:+.1f} bps (oracle vs market)"
    body = [
        f"Feed: {t.feed.feed_pair} ({t.feed.chain}, proxy {t.feed.proxy_address})",
        f"Status: {t.from_status} -> {t.to_status}",
        f"Oracle: ${t.price:.8f} ({t.deviation_bps:+.2f} bps from peg), served from {t.served_from:%Y-%m-%d %H:%M:%S} UTC",
        f"Market: {market}",
        f"Divergence: {divergence}",
        f"Market depth: ${t.depth_usd or 0:,.0f} in usable pools",
        f"Since: {t.occurred_at:%Y-%m-%d %H:%M:%S} UTC (the market reading that showed it)",
        f"Dashboard: {dashboard_link(t, dashboard_url)}",
    ]
    return titles[t.to_status], "\n".join(body), _NOTIFY_TYPES.get(t.to_status, "success")


def sequencer_message(t: Transition, dashboard_url: str) -> tuple[str, str, str]:
    """(title, body, notify type) of an L2 sequencer transition: the chain's prices (un)trusted."""
    chain = t.feed.chain
    titles = {
        DOWN: f"SEQUENCER DOWN {chain}: its Chainlink prices are untrusted",
        GRACE: f"SEQUENCER BACK {chain}: prices untrusted for the grace period",
        UP: f"RESOLVED {chain} sequencer up past its grace period: prices trusted again",
    }
    body = [
        f"Chain: {chain} (sequencer uptime feed {t.feed.proxy_address})",
        f"Status: {t.from_status} -> {t.to_status}",
        f"Since: {t.occurred_at:%Y-%m-%d %H:%M:%S} UTC"
        + (
            ""
            if t.occurred_at == t.served_from
            else f" (back at {t.served_from:%Y-%m-%d %H:%M:%S} UTC plus the grace period)"
        ),
        "Every price served on the chain meanwhile stays in the dashboard, marked untrusted.",
        f"Round: {t.round_id}",
        f"Dashboard: {dashboard_link(t, dashboard_url)}",
    ]
    return titles[t.to_status], "\n".join(body), _NOTIFY_TYPES.get(t.to_status, "success")


def alert_message(transition: Transition, dashboard_url: str) -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one transition."""
    t = transition
    if t.kind in MARKET_KINDS:
        return market_message(t, dashboard_url)
    if t.kind == SEQUENCER:
        return sequencer_message(t, dashboard_url)
    pair = feed_label(t.feed.feed_pair, t.feed.chain)
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
            f"Feed: {t.feed.feed_pair} ({t.feed.chain}, proxy {t.feed.proxy_address})",
            f"Status: {t.from_status} -> {t.to_status}",
            f"Price: ${t.price:.8f}",
            "Deviation: unknown (no peg price yet)"
            if t.deviation_bps is None
            else f"Deviation: {t.deviation_bps:+.2f} bps",
            f"Since: {since}",
            f"Round: {t.round_id}",
            f"Dashboard: {dashboard_link(t, dashboard_url)}",
        ]
    )
    return title, body, _NOTIFY_TYPES.get(t.to_status, "success")
