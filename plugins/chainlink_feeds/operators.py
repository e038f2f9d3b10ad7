"""ChainlinkFeedOperator loads one feed's rounds for a time window into Snowflake;
ChainlinkChainOperator loads every feed of a chain the same way in one task."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from chainlink_feeds.registry import DEFAULT_REGISTRY, Feed, FeedRegistryError, Reference, load_market, load_registry

if TYPE_CHECKING:
    from airflow.sdk import Context

    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.reader import WindowRead
    from chainlink_feeds.registry import Chain, Market
    from chainlink_feeds.rounds import AcceptedRound, Rejection, Round
    from chainlink_feeds.store import FeedWindow, LoadResult, RoundStore
    from warehouse.hooks import PegSnowflakeHook

PHASE_CACHE = Path(
    os.environ.get(
        "PEG_PHASE_CACHE",
        Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "cache" / "chainlink_phases.json",
    )
)

RESUME_LOOKBACK = timedelta(days=1)


def parse_time(value: str | datetime, name: str) -> datetime:
    """A templated window bound as a UTC datetime; one without a time zone is refused, naming it."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no time zone; give UTC times")
    return moment.astimezone(UTC)


class ChainReadOperator(BaseOperator):
    """The family of operators that read a chain into the warehouse (the rounds, the pools): each
    has an RPC connection (`chainlink_conn_id`) and a warehouse one (`snowflake_conn_id`), whose
    hooks are built once per task."""

    chainlink_conn_id: str
    snowflake_conn_id: str

    @cached_property
    def chainlink_hook(self) -> ChainlinkHook:
        from chainlink_feeds.hooks import ChainlinkHook

        return ChainlinkHook(chainlink_conn_id=self.chainlink_conn_id)

    @cached_property
    def snowflake_hook(self) -> PegSnowflakeHook:
        from warehouse.hooks import PegSnowflakeHook

        return PegSnowflakeHook(snowflake_conn_id=self.snowflake_conn_id)


class _RoundsOperator(ChainReadOperator):
    """What loading rounds needs whatever the task's feeds: the window, the connections, the registry."""

    ui_color = "#375bd2"

    def __init__(
        self,
        *,
        chain: str = "ethereum",
        window_start: str | None = "{{ data_interval_start }}",
        window_end: str = "{{ data_interval_end }}",
        chainlink_conn_id: str | None = None,
        snowflake_conn_id: str = "snowflake_default",
        raw_schema: str | None = None,
        registry_path: str | Path = DEFAULT_REGISTRY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chain = chain
        self.window_start = window_start
        self.window_end = window_end
        self.chainlink_conn_id = chainlink_conn_id or f"chainlink_{chain}"
        self.snowflake_conn_id = snowflake_conn_id
        self.raw_schema = raw_schema
        self.registry_path = registry_path

    def check_connection(self, entries: Sequence[Feed | Reference | Chain]) -> None:
        """Refuse a chain without its RPC connection before reading anything, naming the registry
        line of the chain's first entry this task loads (a missing connection is a registry error
        as much as a deployment one: the registry asks for a chain the deployment cannot reach)."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            _ = self.chainlink_hook.settings  # resolves the connection
        except AirflowNotFoundException as exc:
            where = entries[0].where if entries else str(self.registry_path)
            raise FeedRegistryError(
                f"{where}: chain: {self.chain} has no Airflow connection {self.chainlink_conn_id!r} to read it "
                f"({exc}); add it, or the env var AIRFLOW_CONN_{self.chainlink_conn_id.upper()} (docs/production.md)"
            ) from exc

    def oracles(self) -> list[Feed | Reference]:
        """Every registry feed, and every reference a pool is priced through."""
        return [*load_registry(self.registry_path), *load_market(self.registry_path).references]

    @contextmanager
    def raw_store(self) -> Iterator[RoundStore]:
        """The raw tables on one warehouse connection, created if missing."""
        from chainlink_feeds.store import RoundStore

        with closing(self.snowflake_hook.get_conn()) as connection:
            store = RoundStore(connection, self.raw_schema)  # schema None: the connection's default
            store.ensure_tables()
            yield store

    def read_feed(self, feed: Feed | Reference, store: RoundStore) -> FeedRead:
        """Read and validate one feed's window (nothing when it is empty), counting its RPC use."""
        requests_before = (self.chainlink_hook.requests_made, self.chainlink_hook.calls_made)
        start, end = self.window(store, feed)
        if start >= end:
            self.log.info("%s: nothing to load, window [%s, %s) is empty", feed.pair, start, end)
            return FeedRead(feed, (start, end), None, (0, 0))
        checked = self.read_window(feed, start, end)
        rpc = (
            self.chainlink_hook.requests_made - requests_before[0],
            self.chainlink_hook.calls_made - requests_before[1],
        )
        return FeedRead(feed, (start, end), checked, rpc)

    def store_reads(self, reads: list[FeedRead], store: RoundStore, run_id: str) -> dict[str, dict[str, Any]]:
        """Store the feeds' windows in one transaction (`RoundStore.load_many`); each feed's summary, by pair."""
        windows = [r.to_store() for r in reads if r.checked is not None]
        results = iter(store.load_many(windows, run_id) if windows else [])
        summaries = {}
        for r in reads:
            if r.checked is None:
                summaries[r.feed.pair] = {
                    "feed": r.feed.pair,
                    "window_start": r.window[0].isoformat(),
                    "window_end": r.window[1].isoformat(),
                    "rounds_loaded": 0,
                }
                continue
            summary = summaries[r.feed.pair] = load_summary(r.feed, r.window, r.checked, next(results), r.rpc)
            self.log.info(
                "%s: loaded %s rounds (+carry-in %s), rejected %s, with %s RPC requests at block %s",
                r.feed.pair, summary["rounds_loaded"], summary["carry_in_round_id"], summary["rounds_rejected"],
                summary["rpc_requests"], r.checked.read.block,
            )  # fmt: skip
        return summaries

    def window(self, store: RoundStore, feed: Feed | Reference) -> tuple[datetime, datetime]:
        """[start, end) in UTC; no window_start resumes from the feed's last stored round (or a day back)."""
        end = parse_time(self.window_end, "window_end")
        if self.window_start:
            return parse_time(self.window_start, "window_start"), end
        return store.last_loaded(feed) or end - RESUME_LOOKBACK, end

    def read_window(self, feed: Feed | Reference, start: datetime, end: datetime) -> CheckedWindow:
        """The window's rounds read from the chain and validated; logs each rejection and missed heartbeat."""
        from chainlink_feeds.phases import PhaseCache
        from chainlink_feeds.reader import FeedReader
        from chainlink_feeds.rounds import validate

        read = FeedReader(self.chainlink_hook, feed, PhaseCache(PHASE_CACHE)).read(start, end)
        accepted, invalid = validate(read.rounds, read.carry_in, feed.heartbeat_limit_seconds)
        rejected = read.unserved + invalid
        for rejection in rejected:
            self.log.warning("%s: rejected round %s: %s", feed.pair, rejection.round.round_id, rejection.reason)
        for a in accepted:
            if a.is_heartbeat_exceeded:
                self.log.warning(
                    "%s: heartbeat missed: round %s replaced a price %ss old (heartbeat %ss + grace %ss)",
                    feed.pair, a.round.round_id, a.seconds_since_previous, feed.heartbeat_seconds,
                    feed.heartbeat_grace_seconds,
                )  # fmt: skip
        carry_in = read.carry_in.round if read.carry_in and read.carry_in.round in {a.round for a in accepted} else None
        return CheckedWindow(read, accepted, rejected, carry_in)


WINDOW_DOC = """
    :param window_start: start of the window, ISO-8601 with a time zone (templated; default the
        data interval start). ``None`` resumes from the last round already loaded for each feed
        (or starts a day before ``window_end`` when nothing is loaded yet).
    :param window_end: end of the window, exclusive (templated; default the data interval end)
    :param chainlink_conn_id: RPC connection; default ``chainlink_<chain>`` (templated)
    :param snowflake_conn_id: Snowflake connection (templated)
    :param raw_schema: schema of the raw tables; default the connection's schema (templated)
    :param registry_path: feed registry file; default ``include/feeds.yaml``
"""


class ChainlinkFeedOperator(_RoundsOperator):
    __doc__ = f"""Read every round the feed's proxy served from a time in [window_start, window_end), plus the
    carry-in round in effect at window_start, validate them and MERGE them into the raw Snowflake
    tables; rounds the proxy never served, or that are not prices, are stored apart with their reason.

    :param feed_pair: the feed's pair in the registry, e.g. ``USDC/USD``, or a ``references:`` pair such
        as ``ETH/USD`` (its rounds price the pools; no peg, no alerts) (templated)
    :param chain: the feed's chain in the registry (templated){WINDOW_DOC}
    :return: a summary for XCom: rounds loaded and rejected, min/max price, RPC requests made
    """

    template_fields: Sequence[str] = (
        "feed_pair", "chain", "window_start", "window_end", "chainlink_conn_id", "snowflake_conn_id", "raw_schema",
    )  # fmt: skip

    def __init__(self, *, feed_pair: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feed_pair = feed_pair

    @cached_property
    def feed(self) -> Feed | Reference:
        for feed in self.oracles():
            if feed.pair == self.feed_pair and feed.chain == self.chain:
                return feed
        raise FeedRegistryError(
            f"{self.registry_path}: no feed or reference {self.feed_pair!r} on chain {self.chain!r}"
        )

    def execute(self, context: Context) -> dict[str, Any]:
        self.check_connection([self.feed])
        with self.raw_store() as store:
            return self.store_reads([self.read_feed(self.feed, store)], store, context["run_id"])[self.feed.pair]


class ChainlinkChainOperator(_RoundsOperator):
    __doc__ = f"""Load every registry feed and reference of one chain, as `ChainlinkFeedOperator` loads
    one, in one task: one task start, one RPC hook and one warehouse connection for the chain,
    however many feeds it has. Every feed is read first, then all those read are stored in one
    transaction, one MERGE per table (`RoundStore.load_many`; 16 feeds' windows in about the
    warehouse time of one). A feed whose read fails does not stop the others: they are stored, then
    the task fails naming every feed that did not load (a retry loads them all again; the MERGE
    makes that change nothing for the ones already stored).

    On an L2 (a `chains:` entry) the task also stores every status change of the chain's sequencer
    recorded by the window's end, from its Chainlink uptime feed: dbt marks the chain's prices
    untrusted while it was down and for the grace period after.

    :param chain: the chain in the registry (templated)
    :param feed_pairs: only these pairs of the chain (default: every feed and reference of it){WINDOW_DOC}
    :return: a summary for XCom: each feed's summary, the sequencer's status changes stored (None
        on a chain without a sequencer), the RPC requests and calls of the phase-switch search made
        for all feeds together (`phase_search`), the chain's rounds and RPC requests, and the
        warehouse statements its loads sent (`warehouse_statements`)
    """

    template_fields: Sequence[str] = (
        "chain", "window_start", "window_end", "chainlink_conn_id", "snowflake_conn_id", "raw_schema",
    )  # fmt: skip

    def __init__(self, *, feed_pairs: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feed_pairs = list(feed_pairs) if feed_pairs is not None else None

    @cached_property
    def market(self) -> Market:
        """The registry, read once per task."""
        return load_market(self.registry_path)

    @cached_property
    def feeds(self) -> list[Feed | Reference]:
        """The chain's feeds to load, in the registry's order (by default its feeds and the references
        its pools are priced through); an unknown pair is refused, naming it."""
        market = self.market
        on_chain = [f for f in (*market.feeds, *market.references) if f.chain == self.chain]
        if self.feed_pairs is None:
            every = [f for f in (*market.feeds, *market.references_in_use()) if f.chain == self.chain]
            if not every:
                raise FeedRegistryError(f"{self.registry_path}: no feed or reference on chain {self.chain!r}")
            return every
        unknown = sorted(set(self.feed_pairs) - {f.pair for f in on_chain})
        if unknown:
            raise FeedRegistryError(f"{self.registry_path}: no feed or reference {unknown} on chain {self.chain!r}")
        return [f for f in on_chain if f.pair in self.feed_pairs]

    def execute(self, context: Context) -> dict[str, Any]:
        summaries: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        sequencer = self.market.sequencer(self.chain)
        self.check_connection([*self.feeds, *([sequencer] if sequencer else [])])
        search = self.prefetch_phase_switches()
        with self.raw_store() as store:
            reads = []
            for feed in self.feeds:
                try:
                    reads.append(self.read_feed(feed, store))
                except Exception as error:  # reported below, after the other feeds
                    self.log.exception("%s: not loaded", feed.pair)
                    failed[feed.pair] = f"{type(error).__name__}: {error}"
            try:
                summaries = self.store_reads(reads, store, context["run_id"])
            except Exception as error:  # one transaction: none of them is stored
                self.log.exception("%s: the feeds read were not stored", self.chain)
                failed |= {r.feed.pair: f"{type(error).__name__}: {error}" for r in reads}
            sequencer_rounds = None
            if sequencer is not None:
                try:
                    sequencer_rounds = self.load_sequencer(sequencer, store, context["run_id"])
                except Exception as error:  # reported with the feeds
                    self.log.exception("%s: sequencer status not loaded", self.chain)
                    failed["sequencer"] = f"{type(error).__name__}: {error}"
            statements = store.statements
        if failed:
            raise ChainLoadError(self.chain, failed, loaded=sorted(summaries))
        return {
            "chain": self.chain,
            "feeds": summaries,
            "rounds_loaded": sum(s["rounds_loaded"] for s in summaries.values()),
            "sequencer_rounds": sequencer_rounds,
            "phase_search": search,
            "rpc_requests": self.chainlink_hook.requests_made,
            "rpc_calls": self.chainlink_hook.calls_made,
            "warehouse_statements": statements,
        }

    def prefetch_phase_switches(self) -> dict[str, int]:
        """On a fresh deployment (no phase switch cached for two feeds or more), search every feed's
        switches together before the feeds are read one by one (chainlink_feeds.phases); the RPC
        requests and calls it made. Best effort: if it fails, each feed's read searches its own and
        reports what goes wrong."""
        from chainlink_feeds.phases import PhaseCache, prefetch_activations

        hook = self.chainlink_hook
        before = (hook.requests_made, hook.calls_made)
        try:
            prefetch_activations(hook, self.feeds, PhaseCache(PHASE_CACHE))
        except Exception as error:  # noqa: BLE001 (best effort: each feed's read reports its own problem)
            self.log.warning("%s: phase switches not searched together (%s)", self.chain, error)
        return {"rpc_requests": hook.requests_made - before[0], "rpc_calls": hook.calls_made - before[1]}

    def load_sequencer(self, chain: Chain, store: RoundStore, run_id: str) -> int:
        """Read and store the chain's sequencer status changes recorded by the window's end."""
        from chainlink_feeds.sequencer import read_sequencer

        read = read_sequencer(self.chainlink_hook, chain, parse_time(self.window_end, "window_end"))
        stored = store.load_sequencer(chain, read, run_id)
        down = [r for r in read.rounds if r.is_down]
        self.log.info(
            "%s: sequencer: %s status changes (%s outages) at block %s", self.chain, stored, len(down), read.block
        )
        return stored


class ChainLoadError(RuntimeError):
    """Some feeds of a chain did not load; the others are stored."""

    def __init__(self, chain: str, failed: dict[str, str], loaded: list[str]) -> None:
        reasons = "; ".join(f"{pair}: {reason}" for pair, reason in failed.items())
        super().__init__(
            f"{chain}: {len(failed)} of {len(failed) + len(loaded)} feeds not loaded ({reasons}); "
            f"stored: {', '.join(loaded) or 'none'}"
        )
        self.failed = failed


@dataclass(frozen=True)
class FeedRead:
    """One feed's window as a task read it: its bounds, what was read and validated (None: the
    window is empty, nothing to store), and the RPC requests and calls it took."""

    feed: Feed | Reference
    window: tuple[datetime, datetime]
    checked: CheckedWindow | None
    rpc: tuple[int, int]

    def to_store(self) -> FeedWindow:
        """What the store writes of it (a read window, not an empty one)."""
        from chainlink_feeds.store import FeedWindow

        c = self.checked
        assert c is not None, f"{self.feed.pair}: an empty window has nothing to store"
        return FeedWindow(self.feed, self.window, c.accepted, c.rejected, c.carry_in, c.read.activations, c.read.block)


@dataclass(frozen=True)
class CheckedWindow:
    """One window as read and validated: what the store loads and the summary reports."""

    read: WindowRead
    accepted: list[AcceptedRound]
    rejected: list[Rejection]
    carry_in: Round | None  # the carry-in round, if it was accepted


def load_summary(
    feed: Feed | Reference,
    window: tuple[datetime, datetime],
    checked: CheckedWindow,
    result: LoadResult,
    rpc: tuple[int, int],
) -> dict[str, Any]:
    """One feed's summary: the window, what was read and stored, the window's price range, RPC use."""
    read, carry_in = checked.read, checked.carry_in
    prices = [a.round.price(feed.decimals) for a in checked.accepted if a.round is not carry_in]
    return {
        "feed": feed.pair,
        "chain": feed.chain,
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
        "block_number": read.block,
        "phases": read.phases,
        "phase_activations": {str(p): a.timestamp for p, a in read.activations.items()},
        "rounds_not_served": sum(1 for r in read.unserved if r.reason.startswith("never served")),
        "rounds_loaded": len(prices),
        "carry_in_round_id": str(carry_in.round_id) if carry_in else None,
        "rounds_rejected": len(checked.rejected),
        "stale_gaps": sum(1 for a in checked.accepted if a.is_heartbeat_exceeded),
        "min_price": str(min(prices)) if prices else None,
        "max_price": str(max(prices)) if prices else None,
        "rows_merged": result.rounds_merged,
        "rpc_requests": rpc[0],  # HTTP requests, and the calls batched in them, for this feed
        "rpc_calls": rpc[1],
    }
