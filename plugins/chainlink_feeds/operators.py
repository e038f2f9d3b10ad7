"""ChainlinkFeedOperator: load one feed's rounds for a time window into Snowflake."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import closing
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
    from chainlink_feeds.rounds import AcceptedRound, Rejection, Round
    from chainlink_feeds.store import LoadResult, RoundStore
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


class ChainlinkFeedOperator(ChainReadOperator):
    """Read every round the feed's proxy served from a time in [window_start, window_end), plus the
    carry-in round in effect at window_start, validate them and MERGE them into the raw Snowflake
    tables; rounds the proxy never served, or that are not prices, are stored apart with their reason.

    :param feed_pair: the feed's pair in the registry, e.g. ``USDC/USD``, or a ``references:`` pair such
        as ``ETH/USD`` (its rounds price the pools; no peg, no alerts) (templated)
    :param chain: the feed's chain in the registry (templated)
    :param window_start: start of the window, ISO-8601 with a time zone (templated; default the
        data interval start). ``None`` resumes from the last round already loaded for the feed
        (or starts a day before ``window_end`` when nothing is loaded yet).
    :param window_end: end of the window, exclusive (templated; default the data interval end)
    :param chainlink_conn_id: RPC connection; default ``chainlink_<chain>`` (templated)
    :param snowflake_conn_id: Snowflake connection (templated)
    :param raw_schema: schema of the raw tables; default the connection's schema (templated)
    :param registry_path: feed registry file; default ``include/feeds.yaml``
    :return: a summary for XCom: rounds loaded and rejected, min/max price, RPC requests made
    """

    template_fields: Sequence[str] = (
        "feed_pair",
        "chain",
        "window_start",
        "window_end",
        "chainlink_conn_id",
        "snowflake_conn_id",
        "raw_schema",
    )
    ui_color = "#375bd2"

    def __init__(
        self,
        *,
        feed_pair: str,
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
        self.feed_pair = feed_pair
        self.chain = chain
        self.window_start = window_start
        self.window_end = window_end
        self.chainlink_conn_id = chainlink_conn_id or f"chainlink_{chain}"
        self.snowflake_conn_id = snowflake_conn_id
        self.raw_schema = raw_schema
        self.registry_path = registry_path

    @cached_property
    def feed(self) -> Feed | Reference:
        for feed in (*load_registry(self.registry_path), *load_market(self.registry_path).references):
            if feed.pair == self.feed_pair and feed.chain == self.chain:
                return feed
        raise FeedRegistryError(
            f"{self.registry_path}: no feed or reference {self.feed_pair!r} on chain {self.chain!r}"
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from chainlink_feeds.store import RoundStore

        feed = self.feed
        with closing(self.snowflake_hook.get_conn()) as connection:
            store = RoundStore(connection, self.raw_schema)  # schema None: the connection's default
            store.ensure_tables()
            start, end = self.window(store)
            if start >= end:
                self.log.info("%s: nothing to load, window [%s, %s) is empty", feed.pair, start, end)
                window = {"window_start": start.isoformat(), "window_end": end.isoformat()}
                return {"feed": feed.pair, **window, "rounds_loaded": 0}
            checked = self.read_window(start, end)
            result = store.load(
                feed, (start, end), checked.accepted, checked.rejected, checked.carry_in, checked.read.activations,
                checked.read.block, context["run_id"],
            )  # fmt: skip
        summary = load_summary(feed, (start, end), checked, result, self.chainlink_hook)
        self.log.info(
            "%s: loaded %s rounds (+carry-in %s), rejected %s, with %s RPC requests at block %s",
            feed.pair, summary["rounds_loaded"], summary["carry_in_round_id"], summary["rounds_rejected"],
            summary["rpc_requests"], checked.read.block,
        )  # fmt: skip
        return summary

    def window(self, store: RoundStore) -> tuple[datetime, datetime]:
        """[start, end) in UTC; no window_start resumes from the feed's last stored round (or a day back)."""
        end = parse_time(self.window_end, "window_end")
        if self.window_start:
            return parse_time(self.window_start, "window_start"), end
        return store.last_loaded(self.feed) or end - RESUME_LOOKBACK, end

    def read_window(self, start: datetime, end: datetime) -> CheckedWindow:
        """The window's rounds read from the chain and validated; logs each rejection and missed heartbeat."""
        from chainlink_feeds.phases import PhaseCache
        from chainlink_feeds.reader import FeedReader
        from chainlink_feeds.rounds import validate

        feed = self.feed
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
    hook: ChainlinkHook,
) -> dict[str, Any]:
    """The task's XCom: the window, what was read and stored, the window's price range, RPC use."""
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
        "rpc_requests": hook.requests_made,
        "rpc_calls": hook.calls_made,
    }
