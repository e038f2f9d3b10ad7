"""Sensors of the daily DAG: the marts freshness gate and the dashboard refresh check."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from chainlink_feeds.registry import DEFAULT_REGISTRY, load_registry
from peg_monitor import settings

if TYPE_CHECKING:
    from airflow.sdk import Context

DASHBOARD_CHECK_MODES = ("fail", "warn")


def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


class MartsFreshnessSensor(BaseSensorOperator):
    """Pass when the marts cover [window_start, window_end) for every registry feed.

    Covered means: CHAINLINK_FEED_STALENESS has the feed with data_as_of >= window_end, and
    STABLECOIN_PEG_DAILY has a row for each of the window's UTC days from the feed's first served
    round on. A stale feed (no update within its heartbeat) is covered but reported: logged as a
    warning and returned to XCom; so is a feed whose proxy had served no round yet (not live: a
    backfill reaching back before a feed's launch).
    """

    template_fields: Sequence[str] = ("window_start", "window_end", "snowflake_conn_id", "marts_schema")

    def __init__(
        self,
        *,
        window_start: str = "{{ data_interval_start }}",
        window_end: str = "{{ data_interval_end }}",
        snowflake_conn_id: str = "snowflake_default",
        marts_schema: str | None = None,
        registry_path: str | Path = DEFAULT_REGISTRY,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", 30)
        kwargs.setdefault("timeout", 300)
        super().__init__(**kwargs)
        self.window_start = window_start
        self.window_end = window_end
        self.snowflake_conn_id = snowflake_conn_id
        self.marts_schema = marts_schema or settings.marts_schema()
        self.registry_path = registry_path
        self._problems: list[str] = []

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        from warehouse.hooks import PegSnowflakeHook

        with (
            closing(PegSnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()) as conn,
            conn.cursor() as cur,
        ):
            cur.execute(sql, params)
            return cur.fetchall()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        start, end = _utc(self.window_start), _utc(self.window_end)
        days = {(start + timedelta(days=i)).date() for i in range((end - start).days or 1)}
        staleness = {
            (chain, proxy): rest
            for chain, proxy, *rest in self._rows(
                "select chain, proxy_address, data_as_of, last_updated_at, seconds_since_last_update, is_stale, "
                f"heartbeat_seconds, rounds_loaded, first_served_at from {self.marts_schema}.CHAINLINK_FEED_STALENESS"
            )
        }
        daily = {
            (chain, proxy, day)
            for chain, proxy, day in self._rows(
                f"select chain, proxy_address, day from {self.marts_schema}.STABLECOIN_PEG_DAILY "
                "where day >= %s and day < %s",
                (start.date().isoformat(), (end + timedelta(days=1)).date().isoformat()),
            )
        }
        problems, stale, not_live = [], [], []
        for feed in load_registry(self.registry_path):
            row = staleness.get((feed.chain, feed.proxy))
            if row is None:
                problems.append(
                    f"{feed.label}: not in {self.marts_schema}.CHAINLINK_FEED_STALENESS (never loaded or built)"
                )
                continue
            data_as_of, last_updated_at, seconds_since, is_stale, heartbeat, rounds, first_served = row
            if _utc(data_as_of) < end:
                problems.append(
                    f"{feed.label}: marts cover data up to {_utc(data_as_of).isoformat()}, the window ends {end.isoformat()}"
                )
            if not rounds:  # the emulator reads a NULL first_served_at as 1970: count the rounds instead
                not_live.append(feed.label)
                self.log.warning("%s served no round up to %s: not live yet, nothing to cover", feed.label, data_as_of)
                continue
            live_from = _utc(first_served).date()
            missing_days = sorted(
                d for d in days if (feed.chain, feed.proxy, d) not in daily and live_from <= d < end.date()
            )
            if missing_days:
                problems.append(f"{feed.label}: no STABLECOIN_PEG_DAILY row for {', '.join(map(str, missing_days))}")
            if is_stale:
                stale.append(feed.label)
                self.log.warning(
                    "%s is STALE: last update %s, %ss before %s (heartbeat %ss)",
                    feed.label, last_updated_at, seconds_since, data_as_of, heartbeat,
                )  # fmt: skip
        self._problems = problems
        if problems:
            self.log.info("marts do not cover [%s, %s) yet: %s", start, end, "; ".join(problems))
            return False
        return PokeReturnValue(
            is_done=True, xcom_value={"window_end": end.isoformat(), "stale_feeds": stale, "not_live_feeds": not_live}
        )

    def execute(self, context: Context) -> Any:
        from airflow.sdk.exceptions import AirflowSensorTimeout

        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(f"the marts do not cover the run's window: {'; '.join(self._problems)}") from exc


class DashboardFreshnessSensor(BaseSensorOperator):
    """Wait, deferred (no worker slot held), until the dashboard serves data up to window_end.

    The app's URL comes from an HTTP connection. `on_stale` ("fail" or "warn", default from
    PEG_DASHBOARD_CHECK) decides whether a dashboard that is down or serves old data at the
    timeout fails the run or only warns (the task is then skipped with the message).
    """

    template_fields: Sequence[str] = ("window_end", "dashboard_conn_id")

    def __init__(
        self,
        *,
        window_end: str = "{{ data_interval_end }}",
        dashboard_conn_id: str = "dashboard_default",
        on_stale: str | None = None,
        poll_interval: float = 15,
        registry_path: str | Path = DEFAULT_REGISTRY,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", 600)
        super().__init__(**kwargs)
        self.window_end = window_end
        self.dashboard_conn_id = dashboard_conn_id
        self.on_stale = on_stale or os.environ.get("PEG_DASHBOARD_CHECK", "fail")
        if self.on_stale not in DASHBOARD_CHECK_MODES:
            raise ValueError(
                f"on_stale / PEG_DASHBOARD_CHECK must be one of {DASHBOARD_CHECK_MODES}, got {self.on_stale!r}"
            )
        self.poll_interval = poll_interval
        self.registry_path = registry_path

    def _feeds(self) -> list[str]:
        return [feed.label for feed in load_registry(self.registry_path)]

    def execute(self, context: Context) -> str:
        import asyncio

        import httpx

        from peg_monitor.freshness import dashboard_url_of
        from peg_monitor.triggers import DashboardFreshnessTrigger, check_dashboard

        url = dashboard_url_of(self.dashboard_conn_id)
        end = _utc(self.window_end)

        async def look() -> tuple[bool, str]:
            async with httpx.AsyncClient(timeout=10) as client:
                return await check_dashboard(client, url, end, self._feeds())

        fresh, message = asyncio.run(look())
        if fresh:
            self.log.info("%s", message)
            return message
        self.log.info("deferring until the dashboard catches up: %s", message)
        deadline = datetime.now(UTC) + timedelta(seconds=self.timeout)
        self.defer(
            trigger=DashboardFreshnessTrigger(
                dashboard_conn_id=self.dashboard_conn_id,
                window_end=end.isoformat(),
                feeds=self._feeds(),
                poll_interval=self.poll_interval,
                deadline=deadline.isoformat(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        if event.get("status") == "success":
            self.log.info("%s", event["message"])
            return event["message"]
        message = f"dashboard refresh check gave up after {self.timeout:.0f}s: {event.get('message')}"
        if self.on_stale == "warn":
            self.log.warning("%s (PEG_DASHBOARD_CHECK=warn: not failing the run)", message)
            raise AirflowSkipException(message)
        raise AirflowFailException(message)
