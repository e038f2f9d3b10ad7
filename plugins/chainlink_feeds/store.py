"""Load rounds into Snowflake: tables created from code, one MERGE per table inside one transaction.

Prices are the rounds the proxy served, with `served_from` (see chainlink_feeds.reader); rounds it
never served and rounds that are not prices go to the rejections table with their reason, and a
reload removes such a round from the price table if an older load stored it there. Each phase's
activation (block and time, or the registry pin) goes to `CHAINLINK_PHASES`.

Rows are keyed on (chain, proxy, round id). A re-run inserts nothing new and updates nothing
unless the chain's own data for a round differs, so load metadata (block, load time, run id)
keeps the first load's values and re-running a day changes nothing. A failure rolls back the
whole window: no partial rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chainlink_feeds.registry import DEFAULT_THRESHOLDS
from chainlink_feeds.rounds import AcceptedRound, Rejection, Round

if TYPE_CHECKING:
    from chainlink_feeds.phases import Activation
    from chainlink_feeds.registry import Feed

log = logging.getLogger(__name__)

ROUNDS_TABLE = "CHAINLINK_ROUNDS"
REJECTIONS_TABLE = "CHAINLINK_ROUND_REJECTIONS"
WINDOWS_TABLE = "CHAINLINK_LOAD_WINDOWS"
FEEDS_TABLE = "CHAINLINK_FEEDS"
PHASES_TABLE = "CHAINLINK_PHASES"
ROWS_PER_STATEMENT = 500

# Integer widths: round ids are uint80 (25 digits); NUMBER(38,0) would be exact on Snowflake but
# the emulator maps it to a 64-bit integer, so every integer column is at most 37 digits wide.
DDL = {
    ROUNDS_TABLE: """
        chain varchar not null,
        chain_id number(12,0) not null,
        proxy_address varchar not null,
        feed_pair varchar not null,
        round_id number(25,0) not null,
        phase_id number(5,0) not null,
        aggregator_round_id number(20,0) not null,
        answer number(37,0) not null,
        decimals number(3,0) not null,
        price number(38,18) not null,
        started_at timestamp_ntz not null,
        updated_at timestamp_ntz not null,
        served_from timestamp_ntz not null,
        answered_in_round number(25,0) not null,
        seconds_since_previous number(20,0),
        is_heartbeat_exceeded boolean,
        block_number number(20,0) not null,
        loaded_at timestamp_ntz not null,
        airflow_run_id varchar,
        primary key (chain, proxy_address, round_id)""",
    REJECTIONS_TABLE: """
        chain varchar not null,
        proxy_address varchar not null,
        feed_pair varchar not null,
        round_id number(25,0) not null,
        answer varchar not null,
        started_at_unix number(25,0) not null,
        updated_at_unix number(25,0) not null,
        reason varchar not null,
        block_number number(20,0) not null,
        loaded_at timestamp_ntz not null,
        airflow_run_id varchar,
        primary key (chain, proxy_address, round_id)""",
    WINDOWS_TABLE: """
        chain varchar not null,
        proxy_address varchar not null,
        feed_pair varchar not null,
        window_start timestamp_ntz not null,
        window_end timestamp_ntz not null,
        carry_in_round_id number(25,0),
        rounds_in_window number(10,0) not null,
        rounds_rejected number(10,0) not null,
        block_number number(20,0) not null,
        loaded_at timestamp_ntz not null,
        airflow_run_id varchar,
        primary key (chain, proxy_address, window_start, window_end)""",
    FEEDS_TABLE: """
        chain varchar not null,
        chain_id number(12,0) not null,
        proxy_address varchar not null,
        feed_pair varchar not null,
        symbol varchar not null,
        description varchar not null,
        decimals number(3,0) not null,
        heartbeat_seconds number(12,0) not null,
        heartbeat_grace_seconds number(12,0) not null,
        warning_bps number(6,0) not null,
        critical_bps number(6,0) not null,
        hysteresis_bps number(6,0) not null,
        deviation_threshold_pct number(10,6) not null,
        peg_usd number(38,18) not null,
        loaded_at timestamp_ntz not null,
        airflow_run_id varchar,
        primary key (chain, proxy_address)""",
    PHASES_TABLE: """
        chain varchar not null,
        proxy_address varchar not null,
        feed_pair varchar not null,
        phase_id number(5,0) not null,
        aggregator_address varchar not null,
        activated_block number(20,0),
        activated_at timestamp_ntz not null,
        activation_source varchar not null,
        loaded_at timestamp_ntz not null,
        airflow_run_id varchar,
        primary key (chain, proxy_address, phase_id)""",
}
# Columns added after a table's first release: `create table if not exists` leaves an older table
# as it was, so they are added to it and its rows filled from the expression given: an older
# release's price was the round from its updatedAt (exact except at a phase switch, which a reload
# of the day corrects), its feed had no grace and the thresholds were dbt vars (the registry's
# default warning / critical bps) with no hysteresis (the next load writes the registry's).
ADDED_COLUMNS = {
    ROUNDS_TABLE: [("served_from", "timestamp_ntz", "updated_at")],
    FEEDS_TABLE: [
        ("heartbeat_grace_seconds", "number(12,0)", "0"),
        ("warning_bps", "number(6,0)", str(DEFAULT_THRESHOLDS["warning_bps"])),
        ("critical_bps", "number(6,0)", str(DEFAULT_THRESHOLDS["critical_bps"])),
        ("hysteresis_bps", "number(6,0)", "0"),
    ],
}


@dataclass(frozen=True)
class LoadResult:
    """What one window's load stored."""

    rounds_merged: int
    rejections_merged: int


def _ts(value: datetime | int) -> str:
    """A timestamp_ntz literal in UTC of a datetime (a naive one is taken as UTC) or of unix seconds."""
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return f"{moment.astimezone(UTC) if moment.tzinfo else moment:%Y-%m-%d %H:%M:%S}"


def _merge_sql(
    table: str, columns: list[tuple[str, str]], keys: list[str], compare: list[str], fill: list[str], rows: int
) -> str:
    """MERGE from a VALUES list: insert new keys; update only if compared columns differ, or fill
    columns get a known value that differs (a null fill value never overwrites one)."""
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    source = ", ".join(f"column{i + 1}::{kind} as {name}" for i, (name, kind) in enumerate(columns))
    names = [name for name, _ in columns]
    changed = [f"t.{c} is distinct from s.{c}" for c in compare]
    changed += [f"(s.{c} is not null and t.{c} is distinct from s.{c})" for c in fill]
    updates = ", ".join([f"{c} = s.{c}" for c in compare] + [f"{c} = coalesce(s.{c}, t.{c})" for c in fill])
    return (
        f"merge into {table} as t using (select {source} from values {', '.join([placeholders] * rows)}) as s "
        f"on {' and '.join(f't.{k} = s.{k}' for k in keys)} "
        f"when matched and ({' or '.join(changed)}) then update set {updates} "
        f"when not matched then insert ({', '.join(names)}) values ({', '.join('s.' + n for n in names)})"
    )


ROUND_COLUMNS = [
    ("chain", "varchar"), ("chain_id", "number(12,0)"), ("proxy_address", "varchar"), ("feed_pair", "varchar"),
    ("round_id", "number(25,0)"), ("phase_id", "number(5,0)"), ("aggregator_round_id", "number(20,0)"),
    ("answer", "number(37,0)"), ("decimals", "number(3,0)"), ("price", "number(38,18)"),
    ("started_at", "timestamp_ntz"), ("updated_at", "timestamp_ntz"), ("served_from", "timestamp_ntz"),
    ("answered_in_round", "number(25,0)"), ("seconds_since_previous", "number(20,0)"), ("is_heartbeat_exceeded", "boolean"),
    ("block_number", "number(20,0)"), ("loaded_at", "timestamp_ntz"), ("airflow_run_id", "varchar"),
]  # fmt: skip
REJECTION_COLUMNS = [
    ("chain", "varchar"), ("proxy_address", "varchar"), ("feed_pair", "varchar"), ("round_id", "number(25,0)"),
    ("answer", "varchar"), ("started_at_unix", "number(25,0)"), ("updated_at_unix", "number(25,0)"),
    ("reason", "varchar"), ("block_number", "number(20,0)"), ("loaded_at", "timestamp_ntz"), ("airflow_run_id", "varchar"),
]  # fmt: skip
WINDOW_COLUMNS = [
    ("chain", "varchar"), ("proxy_address", "varchar"), ("feed_pair", "varchar"), ("window_start", "timestamp_ntz"),
    ("window_end", "timestamp_ntz"), ("carry_in_round_id", "number(25,0)"), ("rounds_in_window", "number(10,0)"),
    ("rounds_rejected", "number(10,0)"), ("block_number", "number(20,0)"), ("loaded_at", "timestamp_ntz"),
    ("airflow_run_id", "varchar"),
]  # fmt: skip
FEED_COLUMNS = [
    ("chain", "varchar"), ("chain_id", "number(12,0)"), ("proxy_address", "varchar"), ("feed_pair", "varchar"),
    ("symbol", "varchar"), ("description", "varchar"), ("decimals", "number(3,0)"), ("heartbeat_seconds", "number(12,0)"),
    ("heartbeat_grace_seconds", "number(12,0)"), ("warning_bps", "number(6,0)"), ("critical_bps", "number(6,0)"),
    ("hysteresis_bps", "number(6,0)"), ("deviation_threshold_pct", "number(10,6)"), ("peg_usd", "number(38,18)"), ("loaded_at", "timestamp_ntz"),
    ("airflow_run_id", "varchar"),
]  # fmt: skip
PHASE_COLUMNS = [
    ("chain", "varchar"), ("proxy_address", "varchar"), ("feed_pair", "varchar"), ("phase_id", "number(5,0)"),
    ("aggregator_address", "varchar"), ("activated_block", "number(20,0)"), ("activated_at", "timestamp_ntz"),
    ("activation_source", "varchar"), ("loaded_at", "timestamp_ntz"), ("airflow_run_id", "varchar"),
]  # fmt: skip


class RoundStore:
    """Writes one feed's window into the raw tables of a Snowflake schema through a DB-API connection."""

    def __init__(self, connection: Any, schema: str | None = None) -> None:
        self.connection = connection
        self.prefix = f"{schema}." if schema else ""

    def ensure_tables(self) -> None:
        """Create the raw tables if absent (DDL commits on its own in Snowflake, so it runs first)."""
        with self.connection.cursor() as cur:
            for table, columns in DDL.items():
                cur.execute(f"create table if not exists {self.prefix}{table} ({columns})")
            for table, added in ADDED_COLUMNS.items():
                cur.execute(f"describe table {self.prefix}{table}")
                present = {row[0].lower() for row in cur.fetchall()}
                for name, kind, fill in added:
                    if name not in present:
                        cur.execute(f"alter table {self.prefix}{table} add column {name} {kind}")
                        cur.execute(f"update {self.prefix}{table} set {name} = {fill}")

    def last_loaded(self, feed: Feed) -> datetime | None:
        """served_from of the newest price stored for the feed, to resume a near-real-time load from."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"select max(served_from) from {self.prefix}{ROUNDS_TABLE} where chain = %s and proxy_address = %s",
                (feed.chain, feed.proxy),
            )
            (latest,) = cur.fetchone()
        return latest.replace(tzinfo=UTC) if latest else None

    def load(
        self,
        feed: Feed,
        window: tuple[datetime, datetime],
        accepted: list[AcceptedRound],
        rejected: list[Rejection],
        carry_in: Round | None,
        activations: dict[int, Activation],
        block: int,
        run_id: str | None,
    ) -> LoadResult:
        """MERGE the feed's registry entry, phases, the window's rounds, rejections and window record
        in one transaction; a rejected round an older load stored as a price leaves the price table."""
        loaded_at = _ts(datetime.now(UTC))
        round_rows = [
            (
                feed.chain, feed.chain_id, feed.proxy, feed.pair, str(a.round.round_id), a.round.phase_id,
                str(a.round.aggregator_round_id), str(a.round.answer), feed.decimals, str(a.round.price(feed.decimals)),
                _ts(a.round.started_at), _ts(a.round.updated_at), _ts(a.served_from), str(a.round.answered_in_round),
                a.seconds_since_previous, a.is_heartbeat_exceeded if a.seconds_since_previous is not None else None,
                block, loaded_at, run_id,
            )
            for a in accepted
        ]  # fmt: skip
        rejection_rows = [
            (
                feed.chain, feed.proxy, feed.pair, str(r.round.round_id), str(r.round.answer), str(r.round.started_at),
                str(r.round.updated_at), r.reason, block, loaded_at, run_id,
            )
            for r in rejected
        ]  # fmt: skip
        in_window = sum(1 for a in accepted if carry_in is None or a.round.round_id != carry_in.round_id)
        window_row = (
            feed.chain, feed.proxy, feed.pair, _ts(window[0]), _ts(window[1]),
            str(carry_in.round_id) if carry_in else None, in_window, len(rejected), block, loaded_at, run_id,
        )  # fmt: skip
        feed_row = (
            feed.chain, feed.chain_id, feed.proxy, feed.pair, feed.symbol, feed.description, feed.decimals,
            feed.heartbeat_seconds, feed.heartbeat_grace_seconds, feed.warning_bps, feed.critical_bps,
            feed.hysteresis_bps, str(feed.deviation_threshold_pct), str(feed.peg_usd),
            loaded_at, run_id,
        )  # fmt: skip
        phase_rows = [
            (
                feed.chain, feed.proxy, feed.pair, a.phase_id, a.aggregator, a.block, _ts(a.timestamp), a.source,
                loaded_at, run_id,
            )
            for a in activations.values()
        ]  # fmt: skip
        self.connection.autocommit(False)
        try:
            with self.connection.cursor() as cur:
                cur.execute("begin")
                self._merge(
                    cur, ROUNDS_TABLE, ROUND_COLUMNS, round_rows,
                    keys=["chain", "proxy_address", "round_id"],
                    compare=["answer", "started_at", "updated_at", "served_from", "answered_in_round", "price", "decimals"],
                    fill=["seconds_since_previous", "is_heartbeat_exceeded"],
                )  # fmt: skip
                self._merge(
                    cur, REJECTIONS_TABLE, REJECTION_COLUMNS, rejection_rows,
                    keys=["chain", "proxy_address", "round_id"], compare=["answer", "updated_at_unix", "reason"], fill=[],
                )  # fmt: skip
                # A round is either a price or rejected: drop what an earlier load (an older
                # release, or a registry pin since corrected) filed on the other side.
                self._delete_rounds(cur, ROUNDS_TABLE, feed, [row[3] for row in rejection_rows])
                self._delete_rounds(cur, REJECTIONS_TABLE, feed, [row[4] for row in round_rows])
                self._merge(
                    cur, PHASES_TABLE, PHASE_COLUMNS, phase_rows, keys=["chain", "proxy_address", "phase_id"],
                    compare=["aggregator_address", "activated_block", "activated_at", "activation_source"], fill=[],
                )  # fmt: skip
                self._merge(
                    cur, FEEDS_TABLE, FEED_COLUMNS, [feed_row], keys=["chain", "proxy_address"],
                    compare=[
                        "feed_pair", "symbol", "description", "decimals", "heartbeat_seconds", "heartbeat_grace_seconds",
                        "warning_bps", "critical_bps", "hysteresis_bps", "deviation_threshold_pct", "peg_usd",
                    ],
                    fill=[],
                )  # fmt: skip
                self._merge(
                    cur, WINDOWS_TABLE, WINDOW_COLUMNS, [window_row],
                    keys=["chain", "proxy_address", "window_start", "window_end"],
                    compare=["carry_in_round_id", "rounds_in_window", "rounds_rejected"], fill=[],
                )  # fmt: skip
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        finally:
            self.connection.autocommit(True)
        return LoadResult(len(round_rows), len(rejection_rows))

    def _delete_rounds(self, cur: Any, table: str, feed: Feed, round_ids: list[str]) -> None:
        for i in range(0, len(round_ids), ROWS_PER_STATEMENT):
            ids = round_ids[i : i + ROWS_PER_STATEMENT]
            cur.execute(
                f"delete from {self.prefix}{table} where chain = %s and proxy_address = %s "
                f"and round_id in ({', '.join(['%s'] * len(ids))})",
                [feed.chain, feed.proxy, *ids],
            )

    def _merge(self, cur: Any, table: str, columns: list[tuple[str, str]], rows: list[tuple], **spec: Any) -> None:
        for i in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[i : i + ROWS_PER_STATEMENT]
            sql = _merge_sql(f"{self.prefix}{table}", columns, rows=len(chunk), **spec)
            cur.execute(sql, [value for row in chunk for value in row])
