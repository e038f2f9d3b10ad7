"""PegAlertOperator end to end: rounds written through the store's load path into a schema of the
emulator, the operator executed as a task would, apprise posting JSON to the demo's alert receiver
(devstack.services.alert_receiver) on a free port with an inbox of the test's own."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import snowflake.connector

from chainlink_feeds.registry import Feed
from chainlink_feeds.rounds import Rejection, Round, ServedRound, proxy_round_id, validate
from chainlink_feeds.store import RoundStore
from devstack.services import emulator
from devstack.services.alert_receiver import apprise_url, make_server
from devstack.settings import DASHBOARD_URL, PROJECT_DIR
from peg_alerts.hooks import AlertDeliveryError
from peg_alerts.operators import PegAlertOperator
from peg_alerts.store import AlertStore
from tests.support.inbox import TEST_CONN_ID, use_receiver
from warehouse.tables import PEG_ALERT_TRANSITIONS

TRANSITIONS_TABLE = PEG_ALERT_TRANSITIONS.name


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
        with snowflake.connector.connect(**emulator.connection_params()) as conn:
            store = RoundStore(conn, self.schema)
            store.ensure_tables()
            store.load(
                self.feed, (self.loaded_until, until), accepted, self.rejected, carry_in.round if carry_in else None,
                {}, 1, "test_load",
            )  # fmt: skip
        self.rounds += self.pending
        self.pending, self.rejected, self.loaded_until = [], [], until


def run_alerts(
    schema: str,
    run_type: str = "scheduled",
    run_id: str = "scheduled__test",
    interval: tuple[datetime | None, datetime | None] = (None, None),
    **kwargs,
) -> dict:
    """Execute the operator as the task `peg_alerts` of a run would (a retry: the same run id again)."""
    kwargs.setdefault("marts_schema", schema)  # no market mart there: only the oracle's transitions
    kwargs.setdefault("use_outbox", False)  # outside Airflow: no Variables (the near-real-time e2e has them)
    operator = PegAlertOperator(task_id="peg_alerts", apprise_conn_id=TEST_CONN_ID, raw_schema=schema, **kwargs)
    context = {
        "run_id": run_id, "dag_run": SimpleNamespace(run_type=run_type),
        "data_interval_start": interval[0], "data_interval_end": interval[1],
    }  # fmt: skip
    return operator.execute(context)


def recorded(schema: str) -> list[tuple]:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
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
    assert summary == {"transitions": 1, "recorded": 1, "sent": 1, "notices": 0, "backfill": False}
    (alert,) = receiver.received
    assert alert["type"] == "failure" and alert["title"].startswith("CRITICAL USDC/USD")
    body = alert["message"]
    assert "Feed: USDC/USD" in body and "Price: $0.97120000" in body and "Deviation: -288.00 bps" in body
    assert f"Since: {off_at:%Y-%m-%d %H:%M:%S} UTC" in body
    assert (
        f"Dashboard: {DASHBOARD_URL}/?feed=USDC%2FUSD+%28ethereum%29&start={(off_at - timedelta(days=1)).date()}"
        in body
    )

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
    interval = (usdc.loaded_until - timedelta(hours=1), usdc.loaded_until)
    summary = run_alerts(usdc.schema, run_type="backfill", run_id="backfill__2026-01-01", interval=interval)
    assert summary["backfill"] and summary["recorded"] == 1 and summary["sent"] == 0
    assert [row[:4] for row in recorded(usdc.schema)] == [("peg_status", "critical", "backfill", False)]
    assert run_alerts(usdc.schema)["sent"] == 0  # the next scheduled run does not page it either
    assert receiver.received == []


def test_a_backfill_leaves_a_live_transition_outside_its_interval_to_be_paged(usdc, receiver) -> None:
    off_at = usdc.loaded_until + timedelta(minutes=5)
    usdc.push("0.9890", off_at)  # critical, inside the backfilled hour
    back_at = now() - timedelta(minutes=2)
    usdc.push("0.9995", back_at)  # healthy again just now: the near-real-time DAG's, not recorded yet
    usdc.load(now())
    interval = (off_at - timedelta(minutes=30), off_at + timedelta(minutes=30))
    summary = run_alerts(usdc.schema, run_type="backfill", run_id="backfill__hour", interval=interval)
    assert summary == {"transitions": 2, "recorded": 1, "sent": 0, "notices": 0, "backfill": True}
    assert [row[:4] for row in recorded(usdc.schema)] == [("peg_status", "critical", "backfill", False)]
    assert run_alerts(usdc.schema, run_id="asset_triggered__live")["sent"] == 1
    assert [a["title"] for a in receiver.received] == ["RESOLVED USDC/USD back to healthy (was critical)"]
    assert [row[:4] for row in recorded(usdc.schema)] == [
        ("peg_status", "critical", "backfill", False),
        ("peg_status", "healthy", None, True),
    ]


def as_older_release_table(schema: str) -> None:
    """Rebuild the transitions table, rows and all, as the release before to_status was in its key made it."""
    table = f"{schema}.{TRANSITIONS_TABLE}"
    older = dataclasses.replace(PEG_ALERT_TRANSITIONS, key=("chain", "proxy_address", "kind", "round_id"))
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(f"alter table {table} rename to {table}_NEW")
        cur.execute(older.create_sql(schema))
        cur.execute(f"insert into {table} select * from {table}_NEW")
        cur.execute(f"drop table {table}_NEW")


@pytest.mark.parametrize("older_table", [False, True], ids=["table", "older_release_table"])
def test_a_threshold_change_that_gives_a_round_another_status_pages_it(usdc, receiver, older_table) -> None:
    at = usdc.loaded_until + timedelta(minutes=5)
    usdc.push("0.9940", at)  # 60 bps: warning on 50 / 100 bps
    usdc.load(at + timedelta(minutes=5))
    assert run_alerts(usdc.schema)["sent"] == 1
    if older_table:
        as_older_release_table(usdc.schema)
    usdc.feed = dataclasses.replace(usdc.feed, critical_bps=55, hysteresis_bps=5)  # the same round: critical now
    usdc.load(usdc.loaded_until + timedelta(minutes=5))  # the next load writes the registry's new thresholds
    assert run_alerts(usdc.schema, run_id="scheduled__after_change")["sent"] == 1
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["WARNING", "CRITICAL"]
    assert f"Since: {at:%Y-%m-%d %H:%M:%S} UTC" in receiver.received[1]["message"]
    # the row of what was sent under the old thresholds stays
    assert sorted(row[:4] for row in recorded(usdc.schema)) == [
        ("peg_status", "critical", None, True),
        ("peg_status", "warning", None, True),
    ]
    assert run_alerts(usdc.schema, run_id="scheduled__again")["sent"] == 0


KILLED_TRY = "import sys; from tests.plugins.peg_alerts.test_operators import run_alerts; run_alerts(*sys.argv[1:])"


def test_a_retry_sends_what_its_killed_try_claimed_and_another_run_waits_for_the_lease(
    usdc, receiver, monkeypatch
) -> None:
    usdc.push("0.9930", usdc.loaded_until + timedelta(minutes=5))
    usdc.load(usdc.loaded_until + timedelta(minutes=30))
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        AlertStore(conn, usdc.schema).ensure_tables()  # so the test can watch the table from the start
    # The first try's receiver takes the connection and never answers: the try hangs in its send
    # with the transition claimed, and is killed there (SIGKILL: no `finally` releases the claim).
    with socket.create_server(("127.0.0.1", 0)) as silent:
        use_receiver(monkeypatch, f"{apprise_url(silent.getsockname()[1])}?cto=60&rto=60")
        plugins = Path(sys.modules[PegAlertOperator.__module__].__file__).parents[1]  # the code under test
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), str(PROJECT_DIR)])}
        first_try = subprocess.Popen(
            [sys.executable, "-c", KILLED_TRY, usdc.schema, "scheduled", "scheduled__killed"], cwd=PROJECT_DIR, env=env
        )
        try:
            deadline = time.monotonic() + 120
            while not any(row[4] for row in recorded(usdc.schema)):
                assert first_try.poll() is None and time.monotonic() < deadline, "the first try never claimed"
                time.sleep(0.2)
        finally:
            first_try.send_signal(signal.SIGKILL)
            first_try.wait()
    use_receiver(monkeypatch, apprise_url(receiver.port))
    ((*_, notified, claimed_by),) = recorded(usdc.schema)
    assert not notified and claimed_by
    assert run_alerts(usdc.schema, run_id="scheduled__other")["sent"] == 0  # another run: the lease holds
    assert receiver.received == []
    assert run_alerts(usdc.schema, run_id="scheduled__killed")["sent"] == 1  # the retry takes its claim over
    assert [a["title"].split(" ")[0] for a in receiver.received] == ["WARNING"]
    assert [row[:4] for row in recorded(usdc.schema)] == [("peg_status", "warning", None, True)]


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
    dead = make_server(0, receiver.path.with_name("dead.jsonl"))
    dead.server_close()  # nothing listens on its port any more
    use_receiver(monkeypatch, apprise_url(dead.server_address[1]))
    with pytest.raises(AlertDeliveryError, match=r"sent 0 of 1 alert\(s\); the other 1 stay recorded and un-sent"):
        run_alerts(usdc.schema)
    # recorded, not sent, not claimed by the failed run
    assert recorded(usdc.schema) == [("peg_status", "warning", None, False, None)]
    use_receiver(monkeypatch, apprise_url(receiver.port))
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
    assert "Price: $1.00010000" in stale["message"] and "/feed_health?feed=DAI%2FUSD+%28ethereum%29" in stale["message"]

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
