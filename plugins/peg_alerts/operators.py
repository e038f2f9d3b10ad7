"""PegAlertOperator: find each feed's peg, heartbeat and market-witness transitions, record them once,
page the new ones."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from peg_alerts.market_rules import MARKET_KINDS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from peg_alerts.hooks import PegAppriseHook
    from peg_alerts.rules import Transition
    from peg_alerts.store import AlertStore
    from warehouse.hooks import PegSnowflakeHook

# Transitions older than this when first recorded are kept but never paged: one daily window plus
# two hours for queueing and retries, so the daily DAG pages what happened in its day, while a
# catch-up over older days (and any backfill) only records.
MAX_ALERT_AGE = timedelta(hours=float(os.environ.get("PEG_ALERT_MAX_AGE_HOURS", "26")))
# How long a claim on the transitions being sent holds before another run may send them: one send
# (apprise's timeouts are seconds) with room to spare; each accepted send renews it for the rest.
# The retry of the claiming task instance takes its claim over at once (see `claim_token`).
CLAIM_LEASE = timedelta(minutes=2)
# A market transition older than this when first recorded is kept but not paged: the market is
# watched live (the near-real-time DAG finds one within minutes), while the daily DAG's hourly
# readings, inserted later between the live ones, may draw a short-lived pair of transitions hours
# after the fact that nobody should be woken for.
MARKET_MAX_ALERT_AGE = timedelta(hours=1)
BACKFILL_RUN_TYPE = "backfill"


def is_backfill(context: Context) -> bool:
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return getattr(run_type, "value", run_type) == BACKFILL_RUN_TYPE


def in_data_interval(found: list[Transition], context: Context) -> list[Transition]:
    """The transitions that occurred in the run's data interval [start, end); none without one."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        return []
    return [t for t in found if start <= t.occurred_at < end]


class PegAlertOperator(BaseOperator):
    """Compute every feed's peg-status (with hysteresis) and heartbeat transitions from the served
    series in the raw tables, every L2 sequencer's (down, grace, up: `sequencer_rules`), and its
    market-witness transitions (silent oracle, divergence, thin market: `market_rules`) from the
    market-vs-oracle mart, a view over the raw tables (skipped, with a log line, until dbt has built
    it), MERGE them into PEG_ALERT_TRANSITIONS if absent, then
    send the ones not yet sent through apprise and mark them sent.

    A backfill run sends nothing and records, as suppressed, only the transitions that occurred in its
    own data interval: the others (a live one the near-real-time DAG has not recorded yet) are left
    for the runs they belong to. A transition older than `max_alert_age` when first recorded is
    recorded as suppressed. A failed send fails the task with the count left un-sent; they stay
    recorded and the retry (which takes over its killed try's claim) or the next run sends them.
    With `use_outbox`, a failed send also flags them in the outbox (the near-real-time trigger then
    wakes the DAG every minute until they are sent), and failure notices a failed run could not
    deliver are sent first.

    :param snowflake_conn_id: Snowflake connection (templated)
    :param apprise_conn_id: apprise connection with the alert URLs (templated)
    :param dashboard_conn_id: HTTP connection whose host is the dashboard's URL, for the links (templated)
    :param raw_schema: schema of the raw tables and the alert state; default the connection's (templated)
    :param marts_schema: schema of dbt's marts; default the pipeline's (`peg_monitor.settings`) (templated)
    :param max_alert_age: transitions older than this are recorded, never sent
    :param use_outbox: keep what waits unsent in Airflow Variables (`peg_alerts.outbox`); a run
        outside Airflow (a benchmark, a test without the Task SDK's API) goes without
    :return: for XCom: transitions found, newly recorded, alerts sent, and whether it was a backfill
    """

    template_fields: Sequence[str] = (
        "snowflake_conn_id", "apprise_conn_id", "dashboard_conn_id", "raw_schema", "marts_schema",
    )  # fmt: skip
    ui_color = "#f4a460"

    def __init__(
        self,
        *,
        snowflake_conn_id: str = "snowflake_default",
        apprise_conn_id: str = "apprise_default",
        dashboard_conn_id: str = "dashboard_default",
        raw_schema: str | None = None,
        marts_schema: str | None = None,
        max_alert_age: timedelta = MAX_ALERT_AGE,
        use_outbox: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snowflake_conn_id = snowflake_conn_id
        self.apprise_conn_id = apprise_conn_id
        self.dashboard_conn_id = dashboard_conn_id
        self.raw_schema = raw_schema
        self.marts_schema = marts_schema
        self.max_alert_age = max_alert_age
        self.use_outbox = use_outbox

    @cached_property
    def snowflake_hook(self) -> PegSnowflakeHook:
        from warehouse.hooks import PegSnowflakeHook

        return PegSnowflakeHook(snowflake_conn_id=self.snowflake_conn_id)

    @cached_property
    def apprise_hook(self) -> PegAppriseHook:
        from peg_alerts.hooks import PegAppriseHook

        return PegAppriseHook(apprise_conn_id=self.apprise_conn_id)

    def dashboard_url(self) -> str:
        from peg_monitor.freshness import dashboard_url_of

        return dashboard_url_of(self.dashboard_conn_id)

    def suppression(self, transition: Transition, backfill: bool, now: datetime) -> str | None:
        """Why a newly found transition is never sent, or None."""
        if backfill:
            return "backfill"
        if transition.occurred_at < now - self.max_alert_age:
            return f"older than {self.max_alert_age} when recorded"
        if transition.kind in MARKET_KINDS and transition.occurred_at < now - MARKET_MAX_ALERT_AGE:
            return f"a market reading older than {MARKET_MAX_ALERT_AGE} when recorded"
        return None

    def claim_token(self, context: Context) -> str:
        """Who holds a claim: the task instance (DAG, run, task, map index), the same for every try, so
        a retry takes over at once what its killed try claimed, while another run waits for the lease."""
        map_index = getattr(context.get("ti"), "map_index", None)
        return f"{self.dag_id}/{context['run_id']}/{self.task_id}/{-1 if map_index is None else map_index}"

    def find(self, store: AlertStore) -> list[Transition]:
        """The oracle's and the sequencers' transitions over their whole series, the market's since each
        kind's last one."""
        from peg_alerts.market_rules import (
            AGREE,
            DEEP,
            MARKET_DEPTH,
            ORACLE_VS_MARKET,
            MarketState,
            market_depth,
            oracle_vs_market,
        )
        from peg_alerts.rules import transitions
        from peg_alerts.sequencer_rules import sequencer_transitions
        from peg_monitor.settings import marts_schema

        found = [t for f in store.feeds() for t in transitions(f.feed, f.series, f.thresholds, f.as_of)]
        found += [t for s in store.sequencers() for t in sequencer_transitions(s.key, s.changes, s.grace, s.as_of)]
        market = store.market_feeds(self.marts_schema or marts_schema())
        if market is None:
            self.log.info("no market-vs-oracle mart yet (dbt has not run): the market's transitions wait for it")
            return found
        states = store.market_states()
        for m in market:
            start = states.get((m.feed, ORACLE_VS_MARKET), MarketState(AGREE))
            found += oracle_vs_market(m.feed, m.readings, m.hysteresis_bps, m.silent_after, start)
            found += market_depth(m.feed, m.readings, states.get((m.feed, MARKET_DEPTH), MarketState(DEEP)))
        return found

    def execute(self, context: Context) -> dict[str, Any]:
        from peg_alerts.store import AlertStore

        backfill, now = is_backfill(context), datetime.now(UTC)
        with closing(self.snowflake_hook.get_conn()) as connection:
            store = AlertStore(connection, self.raw_schema)
            store.ensure_tables()
            found = self.find(store)
            own = in_data_interval(found, context) if backfill else found
            recorded = store.record([(t, self.suppression(t, backfill, now)) for t in own], context["run_id"])
            if backfill:
                self.log.info(
                    "backfill run: recorded %s new of the %s transition(s) in its data interval, paging nobody; "
                    "the other %s are left to the runs they belong to",
                    recorded, len(own), len(found) - len(own),
                )  # fmt: skip
            sent = 0 if backfill else self.send_pending(store, self.claim_token(context))
            notices = 0 if backfill or not self.use_outbox else self.send_notices()
        self.log.info(
            "%s transition(s), %s new, %s alert(s) and %s notice(s) sent", len(found), recorded, sent, notices
        )
        return {"transitions": len(found), "recorded": recorded, "sent": sent, "notices": notices, "backfill": backfill}

    def send_notices(self) -> int:
        """Send the failure notices waiting in the outbox (after the transitions: a notice never holds
        a page back), oldest first; keep what could not go."""
        from peg_alerts.hooks import AlertDeliveryError
        from peg_alerts.outbox import keep_notices, queued_notices

        waiting = queued_notices()
        for i, notice in enumerate(waiting):
            try:
                self.apprise_hook.deliver(title=notice.title, body=notice.text(), notify_type=notice.notify_type)
            except AlertDeliveryError:
                keep_notices(waiting[i:])
                raise
            self.log.info("notice sent from the outbox: %s", notice.title)
        if waiting:
            keep_notices([])
        return len(waiting)

    def send_pending(self, store: AlertStore, token: str) -> int:
        """Claim the transitions not yet sent, send them oldest first, mark each as it is accepted;
        release the rest, and fail naming how many stay un-sent, when apprise cannot deliver one."""
        from peg_alerts.hooks import AlertDeliveryError
        from peg_alerts.messages import alert_message
        from warehouse.tables import PEG_ALERT_TRANSITIONS

        url = self.dashboard_url()
        pending, sent = store.claim(token, CLAIM_LEASE), 0
        try:
            for transition in pending:
                title, body, notify_type = alert_message(transition, url)
                self.apprise_hook.deliver(title=title, body=body, notify_type=notify_type)
                store.mark_notified(transition, token)
                sent += 1
                self.log.info("alert sent: %s", title)
        except AlertDeliveryError as exc:
            if self.use_outbox:
                from peg_alerts.outbox import flag_unsent

                flag_unsent(len(pending) - sent)
            raise AlertDeliveryError(
                f"sent {sent} of {len(pending)} alert(s); the other {len(pending) - sent} stay recorded and un-sent "
                f"in {PEG_ALERT_TRANSITIONS.name}, and the next run sends them. {exc}"
            ) from exc
        finally:
            store.release(token)
        if self.use_outbox and not store.unsent():
            from peg_alerts.outbox import clear_unsent

            clear_unsent()  # only when no run has anything left: another's flag stands until its rows go
        return sent
