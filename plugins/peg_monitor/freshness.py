"""Does a dashboard serve data at least as new as a run's window? Shared by the sensor and its trigger.

The dashboard answers `/_stcore/health` (Streamlit) and `/api/freshness`: JSON with a
`data_as_of` per feed, the end of the newest loaded window the app is serving.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chainlink_feeds.registry import feed_label
from peg_monitor.urls import http_url

HEALTH_PATH = "/_stcore/health"
FRESHNESS_PATH = "/api/freshness"


def dashboard_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """The app's base URL from an HTTP connection's fields."""
    if not host:
        raise ValueError("the dashboard connection has no host: set it to the app's URL, e.g. http://dashboard:8501")
    return http_url(host, port, schema).rstrip("/")


def dashboard_url_of(conn_id: str) -> str:
    """The app's base URL from the HTTP connection `conn_id` (the refresh check and the alerts' links)."""
    from airflow.sdk.bases.hook import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return dashboard_url(conn.host, conn.port, conn.schema)


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def served_label(entry: dict[str, Any]) -> str:
    """A freshness entry's feed as the registry's `Feed.label` names it (the same pair on two chains
    is two feeds; an app from before the `chain` field served Ethereum's only)."""
    return feed_label(entry["feed_pair"], entry.get("chain") or "ethereum")


def evaluate(url: str, payload: Any, window_end: datetime, feeds: list[str]) -> tuple[bool, str]:
    """(fresh enough, message naming what is missing) for one freshness answer; `feeds` are the
    registry's feed labels."""
    if not isinstance(payload, dict) or not isinstance(payload.get("feeds"), list):
        return False, f"{url}{FRESHNESS_PATH} did not answer the freshness JSON ({str(payload)[:200]!r})"
    served: dict[str, datetime] = {}
    for entry in payload["feeds"]:
        if isinstance(entry, dict) and entry.get("feed_pair") and entry.get("data_as_of"):
            served[served_label(entry)] = _parse(entry["data_as_of"])
    missing = [f for f in feeds if f not in served]
    behind = [f"{f} up to {served[f].isoformat()}" for f in feeds if f in served and served[f] < window_end]
    if missing or behind:
        parts = ([f"no data for {', '.join(missing)}"] if missing else []) + (
            [f"only {'; '.join(behind)}"] if behind else []
        )
        return False, (
            f"dashboard {url} (data version {payload.get('data_version')}) serves {' and '.join(parts)}; "
            f"the run's window ends {window_end.isoformat()}"
        )
    return True, (
        f"dashboard {url} serves every feed up to at least {window_end.isoformat()} "
        f"(data version {payload.get('data_version')}, app {payload.get('app_version')})"
    )
