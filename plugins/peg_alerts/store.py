"""The alerts' state in the warehouse: the transitions found, and which were sent.

`PEG_ALERT_TRANSITIONS` (in the raw schema, created from code like the ingest's tables) holds one
row per (chain, proxy, kind, round id, to status). Transitions are MERGEd in only if absent, so a
retry, a rerun or the other DAG seeing the same round adds nothing, and a row keeps what its first
run decided: `suppressed` (why it is never sent: a backfill, or older than the alerts' max age) or,
once sent, `notified_at`. The status is part of the key: after a threshold change the same round
may lead to another status, and that is news for the on-call (a table from an older release, keyed
without it, is rebuilt with the new key by `ensure_tables`).

Sending is at-least-once and never twice at the same time: a run first claims every pending row
with one UPDATE (its token and a lease; Snowflake's table lock serialises two runs' claims), sends
them, marks each sent row (which renews the lease of the rest), and releases what it could not send.
A claim whose token is the claimant's own is taken over at once: the token names the task instance,
so the retry of a killed try sends what that try claimed; any other run waits for the lease to end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from peg_alerts.rules import FeedKey, ServedPrice, Thresholds, Transition
from warehouse.spec import ensure_table, merge, timestamp_literal
from warehouse.tables import CHAINLINK_FEEDS, CHAINLINK_LOAD_WINDOWS, CHAINLINK_ROUNDS, PEG_ALERT_TRANSITIONS


@dataclass(frozen=True)
class FeedSeries:
    """One feed as the ingest stored it: thresholds, served series, and the end of its loaded data."""

    feed: FeedKey
    thresholds: Thresholds
    series: list[ServedPrice]
    as_of: datetime | None


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


class AlertStore:
    """Reads the served series from the raw tables and keeps the transitions, through a DB-API connection."""

    def __init__(self, connection: Any, schema: str | None = None) -> None:
        self.connection = connection
        self.schema = schema
        self.table = PEG_ALERT_TRANSITIONS.qualified(schema)

    def ensure_tables(self) -> None:
        """Create the table if absent; rebuild one whose primary key lacks a column of the key (an older
        release's, without to_status: engines that enforce it would refuse a round's second status)."""
        with self.connection.cursor() as cur:
            ensure_table(cur, PEG_ALERT_TRANSITIONS, self.schema)
            primary_key = self._primary_key(cur)
            if not primary_key or primary_key >= set(PEG_ALERT_TRANSITIONS.key):
                return
            # Renamed first, so a run starting meanwhile creates the new table rather than using the old.
            old, columns = f"{self.table}_OLD_KEY", ", ".join(PEG_ALERT_TRANSITIONS.column_names)
            same_key = " and ".join(f"n.{k} = o.{k}" for k in PEG_ALERT_TRANSITIONS.key)
            cur.execute(f"alter table {self.table} rename to {old}")
            ensure_table(cur, PEG_ALERT_TRANSITIONS, self.schema)
            cur.execute(
                f"insert into {self.table} ({columns}) select {columns} from {old} as o "
                f"where not exists (select 1 from {self.table} as n where {same_key})"
            )
            cur.execute(f"drop table {old}")

    def _primary_key(self, cur: Any) -> set[str]:
        """The transitions table's primary key columns. SHOW's rows are filtered by schema and table:
        the emulator lists the keys of every schema's table of that name."""
        cur.execute(f"show primary keys in table {self.table}")
        names = [d[0].lower() for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        schema = self.schema
        if schema is None and rows:
            cur.execute("select current_schema()")
            (schema,) = cur.fetchone()
        return {
            row["column_name"].lower()
            for row in rows
            if row["table_name"].upper() == PEG_ALERT_TRANSITIONS.name
            and row["schema_name"].upper() == str(schema).upper()
        }

    def feeds(self) -> list[FeedSeries]:
        """Every stored feed with its served prices in order (served_from, round id); rejected and
        never-served rounds live in another table and never count."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"select f.chain, f.proxy_address, f.feed_pair, f.peg_usd, f.warning_bps, f.critical_bps, "
                f"f.hysteresis_bps, f.heartbeat_seconds + f.heartbeat_grace_seconds, w.as_of "
                f"from {CHAINLINK_FEEDS.qualified(self.schema)} as f left join (select chain, proxy_address, max(window_end) as as_of "
                f"from {CHAINLINK_LOAD_WINDOWS.qualified(self.schema)} group by chain, proxy_address) as w "
                f"on f.chain = w.chain and f.proxy_address = w.proxy_address order by f.chain, f.feed_pair"
            )
            feeds = cur.fetchall()
            cur.execute(
                f"select chain, proxy_address, round_id, price, served_from, updated_at, "
                f"coalesce(is_heartbeat_exceeded, false) from {CHAINLINK_ROUNDS.qualified(self.schema)} "
                f"order by chain, proxy_address, served_from, round_id"
            )
            rounds = defaultdict(list)
            for chain, proxy, *row in cur.fetchall():
                rounds[(chain, proxy)].append(row)
        out = []
        for chain, proxy, pair, peg, warning, critical, band, limit, as_of in feeds:
            peg = Decimal(str(peg))
            series = [
                ServedPrice(
                    int(round_id), Decimal(str(price)), (Decimal(str(price)) - peg) / peg * 10_000,
                    _utc(served_from), _utc(updated_at), bool(exceeded),
                )
                for round_id, price, served_from, updated_at, exceeded in rounds[(chain, proxy)]
            ]  # fmt: skip
            thresholds = Thresholds(int(warning), int(critical), int(band), int(limit))
            out.append(FeedSeries(FeedKey(chain, proxy, pair), thresholds, series, _utc(as_of)))
        return out

    def record(self, found: list[tuple[Transition, str | None]], run_id: str | None) -> int:
        """MERGE transitions in if absent, each with its suppression reason (None: to be sent);
        returns how many were new."""
        recorded_at = timestamp_literal(datetime.now(UTC))
        rows = [
            PEG_ALERT_TRANSITIONS.row(
                chain=t.feed.chain, proxy_address=t.feed.proxy_address, feed_pair=t.feed.feed_pair, kind=t.kind,
                round_id=str(t.round_id), from_status=t.from_status, to_status=t.to_status, price=str(t.price),
                deviation_bps=str(t.deviation_bps.quantize(Decimal("1e-12"))),
                served_from=timestamp_literal(t.served_from), occurred_at=timestamp_literal(t.occurred_at),
                recorded_at=recorded_at, airflow_run_id=run_id, suppressed=suppressed,
            )
            for t, suppressed in found
        ]  # fmt: skip
        with self.connection.cursor() as cur:
            return merge(cur, PEG_ALERT_TRANSITIONS, self.schema, rows)

    def claim(self, token: str, lease: timedelta) -> list[Transition]:
        """Claim every transition to be sent: not suppressed, not sent, and not claimed within the
        lease by another token (a claim under `token` itself, left by a killed try, is taken over)."""
        now = datetime.now(UTC)
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.table} set claimed_by = %s, claimed_at = %s::timestamp_ntz "
                f"where notified_at is null and suppressed is null "
                f"and (claimed_at is null or claimed_at < %s::timestamp_ntz or claimed_by = %s)",
                (token, timestamp_literal(now), timestamp_literal(now - lease), token),
            )
            cur.execute(
                f"select chain, proxy_address, feed_pair, kind, round_id, from_status, to_status, price, deviation_bps, "
                f"served_from, occurred_at from {self.table} "
                f"where claimed_by = %s and notified_at is null order by occurred_at, round_id, kind",
                (token,),
            )
            return [
                Transition(
                    FeedKey(chain, proxy, pair), kind, int(round_id), before, after, Decimal(str(price)),
                    Decimal(str(bps)), _utc(served_from), _utc(occurred_at),
                )
                for chain, proxy, pair, kind, round_id, before, after, price, bps, served_from, occurred_at
                in cur.fetchall()
            ]  # fmt: skip

    def mark_notified(self, transition: Transition, token: str) -> None:
        """Mark one claimed transition sent and, in the same statement, renew the lease on the rest
        of the claim: the lease has to cover one send, not the whole batch."""
        t, now = transition, timestamp_literal(datetime.now(UTC))
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.table} set claimed_at = %s::timestamp_ntz, notified_at = case "
                f"when chain = %s and proxy_address = %s and kind = %s and round_id = %s and to_status = %s "
                f"then %s::timestamp_ntz else notified_at end where claimed_by = %s and notified_at is null",
                (now, t.feed.chain, t.feed.proxy_address, t.kind, str(t.round_id), t.to_status, now, token),
            )

    def release(self, token: str) -> None:
        """Give back what a run claimed and did not send, for the next run."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.table} set claimed_by = null, claimed_at = null "
                f"where claimed_by = %s and notified_at is null",
                (token,),
            )
