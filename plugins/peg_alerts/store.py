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

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from peg_alerts.market_rules import MARKET_KINDS, MarketReading, MarketState
from peg_alerts.rules import FeedKey, ServedPrice, Thresholds, Transition
from peg_alerts.sequencer_rules import StatusChange, sequencer_key
from warehouse.spec import ensure_table, merge, timestamp_literal
from warehouse.tables import (
    CHAINLINK_CHAINS,
    CHAINLINK_FEEDS,
    CHAINLINK_LOAD_WINDOWS,
    CHAINLINK_ROUNDS,
    CHAINLINK_SEQUENCER_ROUNDS,
    PEG_ALERT_TRANSITIONS,
)

MARKET_VS_ORACLE = "STABLECOIN_MARKET_VS_ORACLE"  # the dbt mart the market's transitions read


@dataclass(frozen=True)
class MarketSeries:
    """One feed's market-vs-oracle readings in order, with its hysteresis band and silence limit."""

    feed: FeedKey
    hysteresis_bps: int
    silent_after: timedelta
    readings: list[MarketReading]


@dataclass(frozen=True)
class FeedSeries:
    """One feed as the ingest stored it: thresholds, served series, and the end of its loaded data."""

    feed: FeedKey
    thresholds: Thresholds
    series: list[ServedPrice]
    as_of: datetime | None


@dataclass(frozen=True)
class SequencerSeries:
    """One L2's sequencer as the ingest stored it: its status changes in order, its grace period, and
    how far its status has been read (when a grace period is known to be over)."""

    key: FeedKey
    grace: timedelta
    changes: list[StatusChange]
    as_of: datetime | None


def _pegs(rows: list[list[Any]], peg: Decimal, reference: list[list[Any]] | None) -> list[Decimal | None]:
    """The peg in USD each round (round_id, price, served_from, ...) is judged against: `peg`, or with a
    peg reference's served rounds (same shape, in served order) `peg` times the reference's price
    served at the round's served_from, or at its first loaded round for a round served before it
    (a window's carry-in), as dbt's int_chainlink__round_pegs; None while none is loaded."""
    if reference is None:
        return [peg] * len(rows)
    if not reference:
        return [None] * len(rows)
    times = [r[2] for r in reference]
    return [peg * Decimal(str(reference[max(bisect.bisect_right(times, row[2]), 1) - 1][1])) for row in rows]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def _market_reading(
    priced_at: datetime,
    market: Any,
    depth: Any,
    thin: Any,
    round_id: Any,
    oracle: Any,
    served_from: datetime | None,
    oracle_bps: Any,
    divergence: Any,
    limit: Any,
) -> MarketReading:
    """A mart row; without a served round its served_from is null (the emulator hands a null
    TIMESTAMP_NTZ over as 1970-01-01, so the round id decides)."""
    served = None if round_id is None else _utc(served_from)
    return MarketReading(
        _utc(priced_at), _decimal(market), _decimal(depth) or Decimal(0), bool(thin),
        _decimal(oracle), served, _decimal(oracle_bps),
        _decimal(divergence), Decimal(str(limit)),
    )  # fmt: skip


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _text(value: Decimal | None, quantum: str | None = None) -> str | None:
    """A decimal as the MERGE's literal, rounded to the column's scale (None stays null)."""
    if value is None:
        return None
    return str(value.quantize(Decimal(quantum)) if quantum else value)


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
                f"select f.chain, f.proxy_address, f.feed_pair, f.peg_usd, f.peg_reference_pair, f.warning_bps, "
                f"f.critical_bps, f.hysteresis_bps, f.heartbeat_seconds + f.heartbeat_grace_seconds, w.as_of "
                f"from {CHAINLINK_FEEDS.qualified(self.schema)} as f left join (select chain, proxy_address, max(window_end) as as_of "
                f"from {CHAINLINK_LOAD_WINDOWS.qualified(self.schema)} group by chain, proxy_address) as w "
                f"on f.chain = w.chain and f.proxy_address = w.proxy_address order by f.chain, f.feed_pair"
            )
            feeds = cur.fetchall()
            cur.execute(
                f"select chain, proxy_address, feed_pair, round_id, price, served_from, updated_at, "
                f"coalesce(is_heartbeat_exceeded, false) from {CHAINLINK_ROUNDS.qualified(self.schema)} "
                f"order by chain, proxy_address, served_from, round_id"
            )
            rounds, by_pair = defaultdict(list), defaultdict(list)
            for chain, proxy, pair, *row in cur.fetchall():
                rounds[(chain, proxy)].append(row)
                by_pair[(chain, pair)].append(row)  # a peg reference's served series (a reference has no feed row)
        out = []
        for chain, proxy, pair, peg, reference, warning, critical, band, limit, as_of in feeds:
            pegs = _pegs(rounds[(chain, proxy)], Decimal(str(peg)), by_pair[(chain, reference)] if reference else None)
            series = [
                ServedPrice(
                    int(round_id), Decimal(str(price)),
                    None if level is None else (Decimal(str(price)) - level) / level * 10_000,
                    _utc(served_from), _utc(updated_at), bool(exceeded),
                )
                for (round_id, price, served_from, updated_at, exceeded), level in zip(
                    rounds[(chain, proxy)], pegs, strict=True
                )
            ]  # fmt: skip
            thresholds = Thresholds(int(warning), int(critical), int(band), int(limit))
            out.append(FeedSeries(FeedKey(chain, proxy, pair), thresholds, series, _utc(as_of)))
        return out

    def sequencers(self) -> list[SequencerSeries]:
        """Every L2 with a stored `chains:` entry, its current uptime feed's status changes in order
        (changed_at, round id), and how far they have been read."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"select chain, sequencer_proxy_address, grace_period_seconds, sequencer_read_until "
                f"from {CHAINLINK_CHAINS.qualified(self.schema)} order by chain"
            )
            chains = cur.fetchall()
            cur.execute(
                f"select chain, proxy_address, round_id, is_down, changed_at "
                f"from {CHAINLINK_SEQUENCER_ROUNDS.qualified(self.schema)} order by chain, changed_at, round_id"
            )
            changes = defaultdict(list)
            for chain, proxy, round_id, is_down, changed_at in cur.fetchall():
                changes[(chain, proxy)].append(StatusChange(int(round_id), bool(is_down), _utc(changed_at)))
        return [
            SequencerSeries(
                sequencer_key(chain, proxy), timedelta(seconds=int(grace)), changes[(chain, proxy)], _utc(as_of)
            )
            for chain, proxy, grace, as_of in chains
        ]

    def market_feeds(self, marts_schema: str) -> list[MarketSeries] | None:
        """Every feed's rows of the market-vs-oracle mart (a view over the raw tables) in order of
        priced_at; None while dbt has not built it in `marts_schema` yet. Only the rows the market
        rules can still use: after the older of a feed's last recorded transitions of each kind
        (they resume there, `market_states`), so a run reads what is new, not the whole history."""
        kinds = ", ".join(f"'{k}'" for k in MARKET_KINDS)
        with self.connection.cursor() as cur:
            # views and tables both (the emulator's information_schema.tables lists no view)
            cur.execute(
                "select (select count(*) from information_schema.views where table_schema = %s and table_name = %s)"
                " + (select count(*) from information_schema.tables where table_schema = %s and table_name = %s)",
                (marts_schema.upper(), MARKET_VS_ORACLE) * 2,
            )
            if not cur.fetchone()[0]:
                return None
            cur.execute(
                f"with last_of_kind as (select chain, proxy_address, kind, max(occurred_at) as occurred_at "
                f"from {self.table} where kind in ({kinds}) group by chain, proxy_address, kind), "
                f"resume as (select chain, proxy_address, min(occurred_at) as since from last_of_kind "
                f"group by chain, proxy_address having count(*) = {len(MARKET_KINDS)}) "
                f"select m.chain, m.proxy_address, m.feed_pair, f.hysteresis_bps, f.silent_oracle_minutes, m.priced_at, "
                f"m.market_price_usd, m.usable_depth_usd, m.is_thin_market, m.oracle_round_id, m.oracle_price_usd, "
                f"m.oracle_served_from, m.oracle_deviation_bps, m.divergence_bps, m.divergence_limit_bps "
                f"from {marts_schema}.{MARKET_VS_ORACLE} as m inner join {CHAINLINK_FEEDS.qualified(self.schema)} as f "
                f"on m.chain = f.chain and m.proxy_address = f.proxy_address "
                f"left join resume as r on m.chain = r.chain and m.proxy_address = r.proxy_address "
                f"where r.since is null or m.priced_at > r.since "
                f"order by m.chain, m.proxy_address, m.priced_at"
            )
            rows = cur.fetchall()
        feeds: dict[FeedKey, MarketSeries] = {}
        for chain, proxy, pair, band, minutes, *reading in rows:
            key = FeedKey(chain, proxy, pair)
            series = feeds.setdefault(key, MarketSeries(key, int(band), timedelta(minutes=int(minutes)), []))
            series.readings.append(_market_reading(*reading))
        return list(feeds.values())

    def market_states(self) -> dict[tuple[FeedKey, str], MarketState]:
        """Each feed's last recorded market transition of each kind: where the market rules resume."""
        kinds = ", ".join(f"'{k}'" for k in MARKET_KINDS)
        with self.connection.cursor() as cur:
            cur.execute(
                f"select chain, proxy_address, feed_pair, kind, to_status, occurred_at from {self.table} "
                f"where kind in ({kinds}) qualify row_number() over "
                f"(partition by chain, proxy_address, kind order by occurred_at desc, round_id desc) = 1"
            )
            return {
                (FeedKey(chain, proxy, pair), kind): MarketState(status, _utc(at))
                for chain, proxy, pair, kind, status, at in cur.fetchall()
            }

    def record(self, found: list[tuple[Transition, str | None]], run_id: str | None) -> int:
        """MERGE transitions in if absent, each with its suppression reason (None: to be sent);
        returns how many were new."""
        recorded_at = timestamp_literal(datetime.now(UTC))
        rows = [
            PEG_ALERT_TRANSITIONS.row(
                chain=t.feed.chain, proxy_address=t.feed.proxy_address, feed_pair=t.feed.feed_pair, kind=t.kind,
                round_id=str(t.round_id), from_status=t.from_status, to_status=t.to_status, price=str(t.price),
                deviation_bps=_text(t.deviation_bps, "1e-12"),
                served_from=timestamp_literal(t.served_from), occurred_at=timestamp_literal(t.occurred_at),
                recorded_at=recorded_at, airflow_run_id=run_id, suppressed=suppressed,
                market_price=_text(t.market_price, "1e-18"), divergence_bps=_text(t.divergence_bps, "1e-12"),
                depth_usd=_text(t.depth_usd, "0.01"),
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
                f"served_from, occurred_at, market_price, divergence_bps, depth_usd from {self.table} "
                f"where claimed_by = %s and notified_at is null order by occurred_at, round_id, kind",
                (token,),
            )
            return [
                Transition(
                    FeedKey(chain, proxy, pair), kind, int(round_id), before, after, Decimal(str(price)),
                    _decimal(bps), _utc(served_from), _utc(occurred_at),
                    _decimal(market), _decimal(divergence), _decimal(depth),
                )
                for chain, proxy, pair, kind, round_id, before, after, price, bps, served_from, occurred_at,
                market, divergence, depth in cur.fetchall()
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

    def unsent(self) -> int:
        """How many recorded transitions wait to be sent (not suppressed, not sent), by any run."""
        with self.connection.cursor() as cur:
            cur.execute(f"select count(*) from {self.table} where notified_at is null and suppressed is null")
            return int(cur.fetchone()[0])

    def release(self, token: str) -> None:
        """Give back what a run claimed and did not send, for the next run."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"update {self.table} set claimed_by = null, claimed_at = null "
                f"where claimed_by = %s and notified_at is null",
                (token,),
            )
