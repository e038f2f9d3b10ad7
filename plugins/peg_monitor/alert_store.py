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

from chainlink_feeds.store import FEEDS_TABLE, ROUNDS_TABLE, WINDOWS_TABLE, _ts
from peg_monitor.alert_rules import FeedKey, ServedPrice, Thresholds, Transition

TRANSITIONS_TABLE = "PEG_ALERT_TRANSITIONS"
ROWS_PER_STATEMENT = 500
DDL = """
    chain varchar not null,
    proxy_address varchar not null,
    feed_pair varchar not null,
    kind varchar not null,
    round_id number(25,0) not null,
    from_status varchar not null,
    to_status varchar not null,
    price number(38,18) not null,
    deviation_bps number(38,12) not null,
    served_from timestamp_ntz not null,
    occurred_at timestamp_ntz not null,
    recorded_at timestamp_ntz not null,
    airflow_run_id varchar,
    suppressed varchar,
    claimed_by varchar,
    claimed_at timestamp_ntz,
    notified_at timestamp_ntz,
    primary key (chain, proxy_address, kind, round_id, to_status)"""
COLUMNS = [
    ("chain", "varchar"), ("proxy_address", "varchar"), ("feed_pair", "varchar"), ("kind", "varchar"),
    ("round_id", "number(25,0)"), ("from_status", "varchar"), ("to_status", "varchar"), ("price", "number(38,18)"),
    ("deviation_bps", "number(38,12)"), ("served_from", "timestamp_ntz"), ("occurred_at", "timestamp_ntz"),
    ("recorded_at", "timestamp_ntz"), ("airflow_run_id", "varchar"), ("suppressed", "varchar"),
]  # fmt: skip
KEY = ("chain", "proxy_address", "kind", "round_id", "to_status")
# Every column, in the DDL's order: what a rebuild of an older table copies.
ALL_COLUMNS = [name for name, _ in COLUMNS] + ["claimed_by", "claimed_at", "notified_at"]


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
        self.prefix = f"{schema}." if schema else ""

    def ensure_tables(self) -> None:
        """Create the table if absent; rebuild one whose primary key lacks a column of KEY (an older
        release's, without to_status: engines that enforce it would refuse a round's second status)."""
        table = f"{self.prefix}{TRANSITIONS_TABLE}"
        with self.connection.cursor() as cur:
            cur.execute(f"create table if not exists {table} ({DDL})")
            primary_key = self._primary_key(cur)
            if not primary_key or primary_key >= set(KEY):
                return
            # Renamed first, so a run starting meanwhile creates the new table rather than using the old.
            old, columns = f"{table}_OLD_KEY", ", ".join(ALL_COLUMNS)
            cur.execute(f"alter table {table} rename to {old}")
            cur.execute(f"create table if not exists {table} ({DDL})")
            cur.execute(
                f"insert into {table} ({columns}) select {columns} from {old} as o where not exists "
                f"(select 1 from {table} as n where {' and '.join(f'n.{k} = o.{k}' for k in KEY)})"
            )
            cur.execute(f"drop table {old}")

    def _primary_key(self, cur: Any) -> set[str]:
        """The transitions table's primary key columns. SHOW's rows are filtered by schema and table:
        the emulator lists the keys of every schema's table of that name."""
        cur.execute(f"show primary keys in table {self.prefix}{TRANSITIONS_TABLE}")
        names = [d[0].lower() for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        schema = self.schema
        if schema is None and rows:
            cur.execute("select current_schema()")
            (schema,) = cur.fetchone()
        return {
            row["column_name"].lower()
            for row in rows
            if row["table_name"].upper() == TRANSITIONS_TABLE and row["schema_name"].upper() == str(schema).upper()
        }

    def feeds(self) -> list[FeedSeries]:
        """Every stored feed with its served prices in order (served_from, round id); rejected and
        never-served rounds live in another table and never count."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"select f.chain, f.proxy_address, f.feed_pair, f.peg_usd, f.warning_bps, f.critical_bps, "
                f"f.hysteresis_bps, f.heartbeat_seconds + f.heartbeat_grace_seconds, w.as_of "
                f"from {self.prefix}{FEEDS_TABLE} as f left join (select chain, proxy_address, max(window_end) as as_of "
                f"from {self.prefix}{WINDOWS_TABLE} group by chain, proxy_address) as w "
                f"on f.chain = w.chain and f.proxy_address = w.proxy_address order by f.chain, f.feed_pair"
            )
            feeds = cur.fetchall()
            cur.execute(
                f"select chain, proxy_address, round_id, price, served_from, updated_at, "
                f"coalesce(is_heartbeat_exceeded, false) from {self.prefix}{ROUNDS_TABLE} "
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
        recorded_at = _ts(datetime.now(UTC))
        rows = [
            (
                t.feed.chain, t.feed.proxy_address, t.feed.feed_pair, t.kind, str(t.round_id), t.from_status,
                t.to_status, str(t.price), str(t.deviation_bps.quantize(Decimal("1e-12"))), _ts(t.served_from),
                _ts(t.occurred_at), recorded_at, run_id, suppressed,
            )
            for t, suppressed in found
        ]  # fmt: skip
        new = 0
        with self.connection.cursor() as cur:
            for i in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[i : i + ROWS_PER_STATEMENT]
                cur.execute(
                    _insert_if_absent_sql(f"{self.prefix}{TRANSITIONS_TABLE}", len(chunk)),
                    [v for row in chunk for v in row],
                )
                new += max(cur.rowcount or 0, 0)
        return new

    def claim(self, token: str, lease: timedelta) -> list[Transition]:
        """Claim every transition to be sent: not suppressed, not sent, and not claimed within the
        lease by another token (a claim under `token` itself, left by a killed try, is taken over)."""
        now = datetime.now(UTC)
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.prefix}{TRANSITIONS_TABLE} set claimed_by = %s, claimed_at = %s::timestamp_ntz "
                f"where notified_at is null and suppressed is null "
                f"and (claimed_at is null or claimed_at < %s::timestamp_ntz or claimed_by = %s)",
                (token, _ts(now), _ts(now - lease), token),
            )
            cur.execute(
                f"select chain, proxy_address, feed_pair, kind, round_id, from_status, to_status, price, deviation_bps, "
                f"served_from, occurred_at from {self.prefix}{TRANSITIONS_TABLE} "
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
        t, now = transition, _ts(datetime.now(UTC))
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.prefix}{TRANSITIONS_TABLE} set claimed_at = %s::timestamp_ntz, notified_at = case "
                f"when chain = %s and proxy_address = %s and kind = %s and round_id = %s and to_status = %s "
                f"then %s::timestamp_ntz else notified_at end where claimed_by = %s and notified_at is null",
                (now, t.feed.chain, t.feed.proxy_address, t.kind, str(t.round_id), t.to_status, now, token),
            )

    def release(self, token: str) -> None:
        """Give back what a run claimed and did not send, for the next run."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.prefix}{TRANSITIONS_TABLE} set claimed_by = null, claimed_at = null "
                f"where claimed_by = %s and notified_at is null",
                (token,),
            )


def _insert_if_absent_sql(table: str, rows: int) -> str:
    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    source = ", ".join(f"column{i + 1}::{kind} as {name}" for i, (name, kind) in enumerate(COLUMNS))
    names = [name for name, _ in COLUMNS]
    return (
        f"merge into {table} as t using (select {source} from values {', '.join([placeholders] * rows)}) as s "
        f"on {' and '.join(f't.{k} = s.{k}' for k in KEY)} "
        f"when not matched then insert ({', '.join(names)}) values ({', '.join('s.' + n for n in names)})"
    )
