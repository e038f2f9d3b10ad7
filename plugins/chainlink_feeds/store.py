"""Load rounds into Snowflake: the raw tables of `warehouse.tables`, one MERGE per table in one
transaction, for one feed's window or for every feed a chain's task read.

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

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chainlink_feeds.registry import Feed, Reference
from warehouse.spec import TableSpec, chunks, ensure_table, merge, timestamp_literal, transaction
from warehouse.tables import (
    CHAINLINK_CHAINS,
    CHAINLINK_FEEDS,
    CHAINLINK_LOAD_WINDOWS,
    CHAINLINK_PHASES,
    CHAINLINK_ROUND_REJECTIONS,
    CHAINLINK_ROUNDS,
    CHAINLINK_SEQUENCER_ROUNDS,
    RAW_TABLES,
)

if TYPE_CHECKING:
    from chainlink_feeds.phases import Activation
    from chainlink_feeds.registry import Chain
    from chainlink_feeds.rounds import AcceptedRound, Rejection, Round
    from chainlink_feeds.sequencer import SequencerRead


@dataclass(frozen=True)
class LoadResult:
    """What one window's load stored."""

    rounds_merged: int
    rejections_merged: int


@dataclass(frozen=True)
class FeedWindow:
    """One feed's window as read and validated: what a load stores."""

    feed: Feed | Reference
    window: tuple[datetime, datetime]
    accepted: list[AcceptedRound]
    rejected: list[Rejection]
    carry_in: Round | None
    activations: dict[int, Activation]
    block: int


@dataclass(frozen=True)
class Loaded:
    """Where a row comes from: the feed, the block read at, and the load's time and run."""

    feed: Feed | Reference
    block: int
    loaded_at: str
    run_id: str | None

    def row(self, spec: TableSpec, **values: Any) -> tuple:
        """A row of `spec` for the feed, with the load's metadata."""
        return spec.row(
            chain=self.feed.chain, proxy_address=self.feed.proxy, feed_pair=self.feed.pair,
            loaded_at=self.loaded_at, airflow_run_id=self.run_id, **values,
        )  # fmt: skip


def round_row(a: AcceptedRound, at: Loaded) -> tuple:
    r, decimals = a.round, at.feed.decimals
    return at.row(
        CHAINLINK_ROUNDS, chain_id=at.feed.chain_id, round_id=str(r.round_id), phase_id=r.phase_id,
        aggregator_round_id=str(r.aggregator_round_id), answer=str(r.answer), decimals=decimals,
        price=str(r.price(decimals)), started_at=timestamp_literal(r.started_at),
        updated_at=timestamp_literal(r.updated_at), served_from=timestamp_literal(a.served_from),
        answered_in_round=str(r.answered_in_round), seconds_since_previous=a.seconds_since_previous,
        is_heartbeat_exceeded=a.is_heartbeat_exceeded if a.seconds_since_previous is not None else None,
        block_number=at.block,
    )  # fmt: skip


def rejection_row(r: Rejection, at: Loaded) -> tuple:
    return at.row(
        CHAINLINK_ROUND_REJECTIONS, round_id=str(r.round.round_id), answer=str(r.round.answer),
        started_at_unix=str(r.round.started_at), updated_at_unix=str(r.round.updated_at), reason=r.reason,
        block_number=at.block,
    )  # fmt: skip


def window_row(
    window: tuple[datetime, datetime], accepted: list[AcceptedRound], rejected: int, carry_in: Round | None, at: Loaded
) -> tuple:
    in_window = sum(1 for a in accepted if carry_in is None or a.round.round_id != carry_in.round_id)
    return at.row(
        CHAINLINK_LOAD_WINDOWS, window_start=timestamp_literal(window[0]), window_end=timestamp_literal(window[1]),
        carry_in_round_id=str(carry_in.round_id) if carry_in else None, rounds_in_window=in_window,
        rounds_rejected=rejected, block_number=at.block,
    )  # fmt: skip


def feed_row(at: Loaded) -> tuple:
    feed = at.feed
    return at.row(
        CHAINLINK_FEEDS, chain_id=feed.chain_id, symbol=feed.symbol, description=feed.description,
        decimals=feed.decimals, heartbeat_seconds=feed.heartbeat_seconds,
        heartbeat_grace_seconds=feed.heartbeat_grace_seconds, warning_bps=feed.warning_bps,
        critical_bps=feed.critical_bps, hysteresis_bps=feed.hysteresis_bps,
        divergence_margin_bps=feed.divergence_margin_bps, market_max_age_minutes=feed.market_max_age_minutes,
        thin_quote_slippage_bps=feed.thin_quote_slippage_bps, silent_oracle_minutes=feed.silent_oracle_minutes,
        deviation_threshold_pct=str(feed.deviation_threshold_pct), peg_usd=str(feed.peg_usd),
        peg_reference_pair=feed.peg_reference,
    )  # fmt: skip


def phase_row(a: Activation, at: Loaded) -> tuple:
    return at.row(
        CHAINLINK_PHASES, phase_id=a.phase_id, aggregator_address=a.aggregator, activated_block=a.block,
        activated_at=timestamp_literal(a.timestamp), activation_source=a.source,
    )  # fmt: skip


class RoundStore:
    """Writes one feed's window into the raw tables of a Snowflake schema through a DB-API connection."""

    def __init__(self, connection: Any, schema: str | None = None) -> None:
        self.connection = connection
        self.schema = schema
        self.statements = 0  # sent by this store's loads (begin and commit included)

    def ensure_tables(self) -> None:
        """Create the raw tables (the market's too: dbt reads them all) if absent and add the columns
        later releases added to older ones (DDL commits on its own in Snowflake, so it runs before a
        load's transaction)."""
        with self.connection.cursor() as cur:
            for spec in RAW_TABLES:
                ensure_table(cur, spec, self.schema)

    def last_loaded(self, feed: Feed | Reference) -> datetime | None:
        """served_from of the newest price stored for the feed, to resume a near-real-time load from."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"select max(served_from) from {CHAINLINK_ROUNDS.qualified(self.schema)} "
                f"where chain = %s and proxy_address = %s",
                (feed.chain, feed.proxy),
            )
            (latest,) = cur.fetchone()
        return latest.replace(tzinfo=UTC) if latest else None

    def load(
        self,
        feed: Feed | Reference,
        window: tuple[datetime, datetime],
        accepted: list[AcceptedRound],
        rejected: list[Rejection],
        carry_in: Round | None,
        activations: dict[int, Activation],
        block: int,
        run_id: str | None,
    ) -> LoadResult:
        """Store one feed's window (`load_many` of one)."""
        return self.load_many([FeedWindow(feed, window, accepted, rejected, carry_in, activations, block)], run_id)[0]

    def load_many(self, windows: list[FeedWindow], run_id: str | None) -> list[LoadResult]:
        """MERGE the feeds' registry entries, phases, windows' rounds, rejections and window records
        in one transaction, one MERGE per table for all of them (a chain's task stores every feed it
        read at once: a warehouse statement costs about as much for one row as for a thousand); a
        rejected round an older load stored as a price leaves the price table. What each stored."""
        loaded_at = timestamp_literal(datetime.now(UTC))
        rows: dict[TableSpec, list[tuple]] = {
            spec: []
            for spec in (
                CHAINLINK_ROUNDS,
                CHAINLINK_ROUND_REJECTIONS,
                CHAINLINK_PHASES,
                CHAINLINK_FEEDS,
                CHAINLINK_LOAD_WINDOWS,
            )
        }
        results = []
        for w in windows:
            at = Loaded(w.feed, w.block, loaded_at, run_id)
            rows[CHAINLINK_ROUNDS] += [round_row(a, at) for a in w.accepted]
            rows[CHAINLINK_ROUND_REJECTIONS] += [rejection_row(r, at) for r in w.rejected]
            rows[CHAINLINK_PHASES] += [phase_row(a, at) for a in w.activations.values()]
            if isinstance(w.feed, Feed):  # a reference (ETH/USD) has no peg and thresholds to record
                rows[CHAINLINK_FEEDS].append(feed_row(at))
            rows[CHAINLINK_LOAD_WINDOWS].append(window_row(w.window, w.accepted, len(w.rejected), w.carry_in, at))
            results.append(LoadResult(len(w.accepted), len(w.rejected)))
        with transaction(self.connection) as cur:
            self._merge(cur, CHAINLINK_ROUNDS, rows[CHAINLINK_ROUNDS])
            self._merge(cur, CHAINLINK_ROUND_REJECTIONS, rows[CHAINLINK_ROUND_REJECTIONS])
            # A round is either a price or rejected: drop what an earlier load (an older
            # release, or a registry pin since corrected) filed on the other side.
            self._delete_rounds(
                cur, CHAINLINK_ROUNDS, [(w.feed, r.round.round_id) for w in windows for r in w.rejected]
            )
            self._delete_rounds(
                cur, CHAINLINK_ROUND_REJECTIONS, [(w.feed, a.round.round_id) for w in windows for a in w.accepted]
            )
            for spec in (CHAINLINK_PHASES, CHAINLINK_FEEDS, CHAINLINK_LOAD_WINDOWS):
                self._merge(cur, spec, rows[spec])
        self.statements += cur.executed
        return results

    def load_sequencer(self, chain: Chain, read: SequencerRead, run_id: str | None) -> int:
        """MERGE the chain's `chains:` entry and its sequencer's status changes, and move how far it has
        been read forward (never back), in one transaction; the rows merged."""
        loaded_at = timestamp_literal(datetime.now(UTC))
        proxy = chain.sequencer_uptime_feed
        meta = {"chain": chain.name, "loaded_at": loaded_at, "airflow_run_id": run_id}
        rounds = [
            CHAINLINK_SEQUENCER_ROUNDS.row(
                **meta,
                proxy_address=proxy,
                round_id=str(r.round_id),
                is_down=r.is_down,
                changed_at=timestamp_literal(r.changed_at),
                block_number=read.block,
            )  # fmt: skip
            for r in read.rounds
        ]
        entry = CHAINLINK_CHAINS.row(
            **meta, chain_id=chain.chain_id, sequencer_proxy_address=proxy,
            grace_period_seconds=chain.grace_period_seconds,
        )  # fmt: skip
        until = timestamp_literal(read.until)
        with transaction(self.connection) as cur:
            self._merge(cur, CHAINLINK_CHAINS, [entry])
            self._merge(cur, CHAINLINK_SEQUENCER_ROUNDS, rounds)
            cur.execute(
                f"update {CHAINLINK_CHAINS.qualified(self.schema)} set sequencer_read_until = %s "
                f"where chain = %s and (sequencer_read_until is null or sequencer_read_until < %s)",
                (until, chain.name, until),
            )
        self.statements += cur.executed
        return len(rounds)

    def _delete_rounds(self, cur: Any, spec: TableSpec, doomed: list[tuple[Feed | Reference, int]]) -> None:
        """Delete these (feed, round id)s from `spec`: every feed's in one statement (of at most
        ROWS_PER_STATEMENT round ids)."""
        for chunk in chunks(doomed):
            by_feed: dict[tuple[str, str], list[str]] = {}
            for feed, round_id in chunk:
                by_feed.setdefault((feed.chain, feed.proxy), []).append(str(round_id))
            where = " or ".join(
                f"(chain = %s and proxy_address = %s and round_id in ({', '.join(['%s'] * len(ids))}))"
                for ids in by_feed.values()
            )
            cur.execute(
                f"delete from {spec.qualified(self.schema)} where {where}",
                [v for (chain, proxy), ids in by_feed.items() for v in (chain, proxy, *ids)],
            )

    def _merge(self, cur: Any, spec: TableSpec, rows: list[tuple]) -> None:
        merge(cur, spec, self.schema, rows)
