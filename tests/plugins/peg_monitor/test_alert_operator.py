"""PegAlertOperator end to end: rounds written through the store's load path into a schema of the
emulator, the operator executed as a task would, apprise posting JSON to a real local HTTP receiver."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import snowflake.connector

from chainlink_feeds.registry import Feed
from chainlink_feeds.rounds import Rejection, Round, ServedRound, proxy_round_id, validate
from chainlink_feeds.store import RoundStore
from devstack import warehouse
from devstack.settings import DASHBOARD_URL
from peg_monitor.alert_store import TRANSITIONS_TABLE
from peg_monitor.alerts import PegAlertOperator, notify_pipeline_failure
from peg_monitor.apprise_hook import AlertDeliveryError

TEST_CONN_ID = "apprise_test"


class Receiver:
    """An HTTP endpoint apprise's `json://` notifications post to; keeps every payload it accepts."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def use_receiver(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Point the test's apprise connection at a local port (the provider's `config` extra)."""
    config = {"path": f"json://127.0.0.1:{port}/alerts"}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{TEST_CONN_ID.upper()}", json.dumps({"conn_type": "apprise", "extra": {"config": config}})
    )


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch):
    live = Receiver()
    use_receiver(monkeypatch, live.port)
    yield live
    live.stop()


class FeedChain:
    """A feed's served rounds, loaded window by window through RoundStore.load as the ingest does
    (each window with its carry-in, so the store measures the heartbeat gaps itself)."""

    def __init__(self, schema: str, feed: Feed, start: datetime) -> None:
        self.schema, self.feed, self.loaded_until = schema, feed, start
        self.rounds: list[Round] = []
        self.pending: list[Round] = []
        self.rejected: list[Rejection] = []

    def push(self, price: str, at: datetime) -> None:
        round_id = proxy_round_id(1, len(self.rounds) + len(self.pending) + 1)
        ts = int(at.timestamp())
        self.pending.append(Round(round_id, int(Decimal(price) * 10**self.feed.decimals), ts, ts, round_id))

    def push_never_served(self, price: str, at: datetime) -> None:
        """A round another aggregator reported that the proxy never served: stored as a rejection."""
        ts = int(at.timestamp())
        round_id = proxy_round_id(2, len(self.rejected) + 1)
        answer = int(Decimal(price) * 10**self.feed.decimals)
        self.rejected.append(Rejection(Round(round_id, answer, ts, ts, round_id), "never served: shadow round"))

    def load(self, until: datetime) -> None:
        carry_in = ServedRound(self.rounds[-1], self.rounds[-1].updated_at) if self.rounds else None
        served = [ServedRound(r, r.updated_at) for r in self.pending]
        accepted, invalid = validate(served, carry_in, self.feed.heartbeat_limit_seconds)
        assert not invalid
        with snowflake.connector.connect(**warehouse.connection_params()) as conn:
            store = RoundStore(conn, self.schema)
            store.ensure_tables()
            store.load(
                self.feed, (self.loaded_until, until), accepted, self.rejected, carry_in.round if carry_in else None,
                {}, 1, "test_load",
            )  # fmt: skip
        self.rounds += self.pending
        self.pending, self.rejected, self.loaded_until = [], [], until


def run_alerts(schema: str, run_type: str = "scheduled", run_id: str = "scheduled__test", **kwargs) -> dict:
    operator = PegAlertOperator(task_id="peg_alerts", apprise_conn_id=TEST_CONN_ID, raw_schema=schema, **kwargs)
    return operator.execute({"run_id": run_id, "dag_run": SimpleNamespace(run_type=run_type)})


def recorded(schema: str) -> list[tuple]:
    with snowflake.connector.connect(**warehouse.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(
            f"select kind, to_status, suppressed, notified_at is not null, claimed_by from {schema}.{TRANSITIONS_TABLE} "
            f"order by occurred_at, kind"
        )
        return cur.fetchall()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def usdc(snowflake_schema, feed_by_pair) -> FeedChain:
    """USDC/USD on the registry's thresholds (50 / 100 bps, band 10), healthy for the last 3 hours."""
    start = now() - timedelta(hours=3)
    chain = FeedChain(snowflake_schema, feed_by_pair["USDC/USD"], start)
    chain.push("1.0001", start + timedelta(minutes=1))
    chain.load(start + timedelta(hours=1))
    return chain


def test_an_off_peg_round_gives_one_alert_a_rerun_none_and_recovery_one_resolved(usdc, receiver) -> None:
    off_at = usdc.loaded_until + timedelta(minutes=10)
    usdc.push("0.9712", off_at)  # -288 bps: critical
    usdc.load(off_at + timedelta(minutes=5))
    summary = run_alerts(usdc.schema)
    assert summary == {"transitions": 1, "recorded": 1, "sent": 1, "backfill": False}
    (alert,) = receiver.received
    assert alert["type"] == "failure" and alert["title"].startswith("CRITICAL USDC/USD")
    body = alert["message"]
    assert "Feed: USDC/USD" in body and "Price: $0.97120000" in body and "Deviation: -288.00 bps" in body
    assert f"Since: {off_at:%Y-%m-%d %H:%M:%S} UTC" in body
    assert f"Dashboard: {DASHBOARD_URL}/?feed=USDC%2FUSD&start={(off_at - timedelta(days=1)).date()}" in body

    assert run_alerts(usdc.schema, run_id="scheduled__rerun")["sent"] == 0  # a rerun, a retry or the other DAG
    assert len(receiver.received) == 1

    back_at = usdc.loaded_until + timedelta(minutes=3)
    usdc.push("0.9990", back_at)
    usdc.load(back_at + timedelta(minutes=1))
    assert run_alerts(usdc.schema)["sent"] == 1
    resolved = receiver.received[1]
    assert resolved["title"] == "RESOLVED USDC/USD back to healthy (was critical)" and resolved["type"] == "success"
    assert (
        "Price: $0.99900000" in resolved["message"] and f"Since: {back_at:%Y-%m-%d %H:%M:%S} UTC" in resolved["message"]
    )
    assert [row[:4] for row in recorded(usdc.schema)] == [
        ("peg_status", "critical", None, True),
        ("peg_status", "healthy", None, True),
    ]


def test_a_price_hovering_at_the_warning_threshold_alerts_once_each_way(usdc, receiver) -> None:
    at = usdc.loaded_until
    for i, price in enumerate(["0.9950", "0.9956", "0.9949", "0.9958", "0.9951", "0.9957", "0.9955"]):
        usdc.push(price, at + timedelta(minutes=i + 1))  # 50, 44, 51, 42, 49, 43, 45 bps: never below 40
    usdc.load(at + timedelta(minutes=30))
    run_alerts(usdc.schema)
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["WARNING"]
    usdc.push("0.9961", at + timedelta(minutes=40))  # 39 bps: below warning - band
    usdc.load(at + timedelta(minutes=45))
    run_alerts(usdc.schema)
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["WARNING", "RESOLVED"]


def test_a_backfill_records_the_transition_and_pages_nobody(usdc, receiver) -> None:
    usdc.push("0.9890", usdc.loaded_until + timedelta(minutes=5))
    usdc.load(usdc.loaded_until + timedelta(minutes=30))
    summary = run_alerts(usdc.schema, run_type="backfill", run_id="backfill__2026-01-01")
    assert summary["backfill"] and summary["recorded"] == 1 and summary["sent"] == 0
    assert [row[:4] for row in recorded(usdc.schema)] == [("peg_status", "critical", "backfill", False)]
    assert run_alerts(usdc.schema)["sent"] == 0  # the next scheduled run does not page it either
    assert receiver.received == []


def test_transitions_older_than_the_max_age_are_recorded_not_paged(snowflake_schema, feed_by_pair, receiver) -> None:
    start = now() - timedelta(hours=30)
    chain = FeedChain(snowflake_schema, feed_by_pair["USDC/USD"], start)
    chain.push("0.9930", start + timedelta(minutes=1))  # warning 30 hours ago (the max age is 26 h)
    chain.push("0.9935", start + timedelta(hours=20))  # still warning (a heartbeat within 24 h)
    chain.push("0.9990", now() - timedelta(hours=1))  # healthy again an hour ago
    chain.load(now())
    assert run_alerts(snowflake_schema)["sent"] == 1
    assert [row[:4] for row in recorded(snowflake_schema)] == [
        ("peg_status", "warning", "older than 1 day, 2:00:00 when recorded", False),
        ("peg_status", "healthy", None, True),
    ]
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["RESOLVED"]


def test_a_dead_receiver_fails_the_task_loudly_and_the_next_run_delivers(usdc, receiver, monkeypatch) -> None:
    usdc.push("0.9930", usdc.loaded_until + timedelta(minutes=5))
    usdc.load(usdc.loaded_until + timedelta(minutes=30))
    dead = Receiver()
    dead.stop()  # nothing listens on its port any more
    use_receiver(monkeypatch, dead.port)
    with pytest.raises(AlertDeliveryError, match=r"sent 0 of 1 alert\(s\); the other 1 stay recorded and un-sent"):
        run_alerts(usdc.schema)
    # recorded, not sent, not claimed by the failed run
    assert recorded(usdc.schema) == [("peg_status", "warning", None, False, None)]
    use_receiver(monkeypatch, receiver.port)
    assert run_alerts(usdc.schema)["sent"] == 1
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["WARNING"]
    assert run_alerts(usdc.schema)["sent"] == 0


def test_heartbeat_miss_alerts_while_it_lasts_and_resolves_when_a_round_arrives(
    snowflake_schema, feed_by_pair, receiver
) -> None:
    feed = dataclasses.replace(feed_by_pair["DAI/USD"], heartbeat_seconds=600, heartbeat_grace_seconds=60)
    start = now() - timedelta(hours=2)
    chain = FeedChain(snowflake_schema, feed, start)
    chain.push("1.0002", start + timedelta(minutes=1))
    chain.push("1.0001", start + timedelta(minutes=10))
    chain.load(start + timedelta(minutes=40))  # no round for 30 min: stale at the end of the loaded data
    run_alerts(snowflake_schema)
    (stale,) = receiver.received
    stale_at = start + timedelta(minutes=10, seconds=660)
    assert stale["title"].startswith("STALE DAI/USD") and f"Since: {stale_at:%Y-%m-%d %H:%M:%S} UTC" in stale["message"]
    assert "Price: $1.00010000" in stale["message"] and "/feed_health?feed=DAI%2FUSD" in stale["message"]

    chain.push("1.0000", start + timedelta(minutes=45))  # the miss ends; the store flags it on this round
    chain.load(start + timedelta(minutes=50))
    run_alerts(snowflake_schema)
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["STALE", "RESOLVED"]
    assert "fresh again" in receiver.received[1]["title"]
    assert [row[:2] for row in recorded(snowflake_schema)] == [
        ("heartbeat_missed", "stale"),
        ("heartbeat_restored", "fresh"),
    ]


def test_rounds_the_proxy_never_served_do_not_alert(usdc, receiver) -> None:
    usdc.push_never_served("0.9000", usdc.loaded_until + timedelta(minutes=5))
    usdc.push("1.0000", usdc.loaded_until + timedelta(minutes=6))
    usdc.load(usdc.loaded_until + timedelta(minutes=30))
    assert run_alerts(usdc.schema)["transitions"] == 0
    assert receiver.received == []


def test_a_failed_run_is_announced_by_the_providers_notifier(receiver, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_APPRISE_DEFAULT", json.dumps({"conn_type": "apprise", "extra": {
        "config": {"path": f"json://127.0.0.1:{receiver.port}/alerts"}
    }}))  # fmt: skip
    dag_run = SimpleNamespace(
        dag_id="stablecoin_peg_daily", run_id="scheduled__2026-01-01T00:00:00+00:00", logical_date="2026-01-01",
        data_interval_start="2026-01-01", data_interval_end="2026-01-02",
    )  # fmt: skip
    notify_pipeline_failure({"dag_run": dag_run, "reason": "task_failure"})
    (alert,) = receiver.received
    assert alert["type"] == "failure" and alert["title"] == "[peg monitor] stablecoin_peg_daily failed"
    assert "scheduled__2026-01-01T00:00:00+00:00 of stablecoin_peg_daily failed: task_failure" in alert["message"]


def test_the_daily_and_realtime_runs_seeing_the_same_round_at_once_page_once(usdc, receiver) -> None:
    from concurrent.futures import ThreadPoolExecutor

    usdc.push("0.9930", usdc.loaded_until + timedelta(minutes=5))
    usdc.load(usdc.loaded_until + timedelta(minutes=30))
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run_alerts, usdc.schema, run_id=run_id) for run_id in ("scheduled__daily", "scheduled__rt")]
        summaries = [run.result() for run in runs]
    assert sorted(s["sent"] for s in summaries) == [0, 1]
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["WARNING"]
    assert [row[:4] for row in recorded(usdc.schema)] == [("peg_status", "warning", None, True)]
