"""The monitor's own silence pages someone: each near-real-time run its trigger started pings a
dead-man's switch, a healthchecks-style check that pages when the pings stop.

The check lives outside Airflow (healthchecks.io, Cronitor, or the stack's inbox), so it still pages
when the scheduler, the triggerer, the workers or the warehouse are down: then no run gets this far.
Its URL is the `peg_deadman` connection's host (an HTTP connection, e.g.
`https://hc-ping.com/<uuid>`); without that connection, or with one without a host (the switch
turned off), the task logs that no switch is set and succeeds. Only runs the trigger started ping: a cron or manual run proves the scheduler alive, not the
triggerer that watches the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.bases.hook import BaseHook

from peg_monitor.urls import http_url

if TYPE_CHECKING:
    from airflow.sdk import Context

ASSET_TRIGGERED = "asset_triggered"
PING_TIMEOUT_SECONDS = 10.0
PING_TRIES = 3


class DeadManPingError(RuntimeError):
    """The dead-man's switch did not accept a ping."""


class DeadManHook(BaseHook):
    """Pings the URL in an HTTP connection's host (scheme, port and path as given)."""

    conn_name_attr = "deadman_conn_id"
    default_conn_name = "peg_deadman"
    conn_type = "http"
    hook_name = "Dead-man's switch"

    def __init__(self, deadman_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.deadman_conn_id = deadman_conn_id

    def url(self) -> str | None:
        """The ping URL, or None when the connection does not exist or has no host (no switch)."""
        from airflow.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.deadman_conn_id)
        except AirflowNotFoundException:
            return None
        return http_url(conn.host, conn.port, conn.schema, default_scheme="https") if conn.host else None

    def ping(self, url: str) -> None:
        """GET the URL, a few tries (a blip must not fail a good run); raise naming the last answer."""
        import httpx

        last = ""
        for _ in range(PING_TRIES):
            try:
                answer = httpx.get(url, timeout=PING_TIMEOUT_SECONDS)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if answer.is_success:
                return
            last = f"HTTP {answer.status_code}"
        raise DeadManPingError(
            f"the dead-man's switch of connection {self.deadman_conn_id!r} refused {PING_TRIES} pings: {last}"
        )


class DeadManPingOperator(BaseOperator):
    """Ping the dead-man's switch when the run was started by the trigger. A refused ping is a warning,
    not a failure: the run's work is done, and a check that misses pings pages by itself.

    :param deadman_conn_id: HTTP connection whose host is the check's ping URL (templated)
    :return: whether it pinged
    """

    template_fields: Sequence[str] = ("deadman_conn_id",)
    ui_color = "#9acd32"

    def __init__(self, *, deadman_conn_id: str = DeadManHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadman_conn_id = deadman_conn_id

    def execute(self, context: Context) -> bool:
        run_type = getattr(context.get("dag_run"), "run_type", None)
        if getattr(run_type, "value", run_type) != ASSET_TRIGGERED:
            self.log.info("a %s run: only runs the trigger started ping the dead-man's switch", run_type)
            return False
        hook = DeadManHook(self.deadman_conn_id)
        url = hook.url()
        if url is None:
            self.log.info("no connection %r, or no host in it: no dead-man's switch to ping", self.deadman_conn_id)
            return False
        try:
            hook.ping(url)  # the URL itself stays out of the log and XCom: a hosted check's id is its secret
        except DeadManPingError as exc:
            self.log.warning("%s; the check pages if this goes on", exc)
            return False
        self.log.info("pinged the dead-man's switch of connection %r", self.deadman_conn_id)
        return True
