"""DashboardFreshnessTrigger: poll the dashboard from the triggerer, holding no worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from peg_monitor.freshness import FRESHNESS_PATH, HEALTH_PATH, dashboard_url, evaluate


async def check_dashboard(client: Any, url: str, window_end: datetime, feeds: list[str]) -> tuple[bool, str]:
    """One look at the health and freshness routes."""
    import httpx

    try:
        health = await client.get(url + HEALTH_PATH)
        if health.status_code != 200:
            return False, f"dashboard {url} is unhealthy: {HEALTH_PATH} answered HTTP {health.status_code}"
        answer = await client.get(url + FRESHNESS_PATH)
    except httpx.HTTPError as exc:
        return False, f"dashboard {url} is down or unreachable: {type(exc).__name__}: {exc}"
    if answer.status_code != 200:
        return False, f"dashboard {url}{FRESHNESS_PATH} answered HTTP {answer.status_code}: {answer.text[:200]}"
    try:
        payload = answer.json()
    except ValueError:
        payload = answer.text
    return evaluate(url, payload, window_end, feeds)


class DashboardFreshnessTrigger(BaseTrigger):
    """Polls until the dashboard serves data up to `window_end`, or the deadline passes."""

    def __init__(
        self, *, dashboard_conn_id: str, window_end: str, feeds: list[str], poll_interval: float, deadline: str
    ) -> None:
        super().__init__()
        self.dashboard_conn_id = dashboard_conn_id
        self.window_end = window_end
        self.feeds = feeds
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "peg_monitor.triggers.DashboardFreshnessTrigger",
            {
                "dashboard_conn_id": self.dashboard_conn_id,
                "window_end": self.window_end,
                "feeds": self.feeds,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import httpx
        from airflow.sdk.bases.hook import BaseHook

        conn = await BaseHook.aget_connection(self.dashboard_conn_id)
        url = dashboard_url(conn.host, conn.port, conn.schema)
        window_end, deadline = datetime.fromisoformat(self.window_end), datetime.fromisoformat(self.deadline)
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                fresh, message = await check_dashboard(client, url, window_end, self.feeds)
                if fresh:
                    yield TriggerEvent({"status": "success", "message": message})
                    return
                if datetime.now(UTC) >= deadline:
                    yield TriggerEvent({"status": "timeout", "message": message})
                    return
                self.log.info("waiting for the dashboard: %s", message)
                await asyncio.sleep(self.poll_interval)
