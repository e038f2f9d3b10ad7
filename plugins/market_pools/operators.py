"""MarketPoolOperator: load one window of every registry pool of a chain into Snowflake."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainlink_feeds.operators import RESUME_LOOKBACK, ChainReadOperator, parse_time
from chainlink_feeds.registry import DEFAULT_REGISTRY, FeedRegistryError, Pool, load_market
from market_pools.reader import DEFAULT_QUOTE_TOKENS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from market_pools.store import PoolStore


class MarketPoolOperator(ChainReadOperator):
    """Read every pool the registry lists on `chain` for [window_start, window_end) (readings at the
    start and each hour, every Swap) and MERGE them into the MARKET_* raw tables; pools unlike the
    registry fail the task before anything is stored.

    :param chain: a chain of the registry (templated)
    :param window_start: start of the window, ISO-8601 with a time zone (templated; default the data
        interval start). ``None`` resumes where the chain's pools were last loaded up to (or a day
        before ``window_end`` when one was never loaded): the near-real-time DAG's windows.
    :param window_end: end of the window, exclusive (templated; default the data interval end)
    :param chainlink_conn_id: RPC connection; default ``chainlink_<chain>`` (templated)
    :param snowflake_conn_id: Snowflake connection (templated)
    :param raw_schema: schema of the raw tables; default the connection's schema (templated)
    :param quote_tokens: whole tokens sold in each sized quote (about $1M of a stablecoin at its peg)
    :param pool_addresses: read only these registry pools of the chain; default all of them
    :param last_second_reading: also read the pools at the window's last second (the near-real-time
        DAG: its window ends now, and the market's verdicts need the price of now)
    :param registry_path: registry file; default ``include/feeds.yaml``
    :return: a summary for XCom: pools, readings and swaps stored, RPC requests made and
        warehouse statements sent
    """

    template_fields: Sequence[str] = (
        "chain", "window_start", "window_end", "chainlink_conn_id", "snowflake_conn_id", "raw_schema",
    )  # fmt: skip
    ui_color = "#ff007a"

    def __init__(
        self,
        *,
        chain: str = "ethereum",
        window_start: str | None = "{{ data_interval_start }}",
        window_end: str = "{{ data_interval_end }}",
        chainlink_conn_id: str | None = None,
        snowflake_conn_id: str = "snowflake_default",
        raw_schema: str | None = None,
        quote_tokens: int = DEFAULT_QUOTE_TOKENS,
        pool_addresses: Sequence[str] | None = None,
        last_second_reading: bool = False,
        registry_path: str | Path = DEFAULT_REGISTRY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chain, self.window_start, self.window_end = chain, window_start, window_end
        self.chainlink_conn_id = chainlink_conn_id or f"chainlink_{chain}"
        self.snowflake_conn_id, self.raw_schema = snowflake_conn_id, raw_schema
        self.quote_tokens, self.registry_path = quote_tokens, registry_path
        self.pool_addresses = pool_addresses
        self.last_second_reading = last_second_reading

    @cached_property
    def pools(self) -> tuple[Pool, ...]:
        market = load_market(self.registry_path)
        if self.pool_addresses is None:
            pools = market.pools_on(self.chain)
        else:
            try:
                pools = tuple(market.pool(self.chain, address) for address in self.pool_addresses)
            except KeyError as exc:
                raise FeedRegistryError(f"{self.registry_path}: {exc.args[0]}") from None
        if not pools:
            raise FeedRegistryError(f"{self.registry_path}: no pool on chain {self.chain!r}")
        return pools

    def execute(self, context: Context) -> dict[str, Any]:
        from market_pools.reader import PoolReader
        from market_pools.store import PoolStore

        market = load_market(self.registry_path)
        quoted = frozenset(f.symbol for f in market.feeds)  # the stablecoins: a sized quote sells them
        with closing(self.snowflake_hook.get_conn()) as connection:
            store = PoolStore(connection, self.raw_schema)
            store.ensure_tables()
            start, end = self.window(store)
            if start >= end:
                self.log.info("%s: nothing to load, window [%s, %s) is empty", self.chain, start, end)
                return {"chain": self.chain, "window_start": start.isoformat(), "window_end": end.isoformat()}
            self.chainlink_hook.check_chain(self.pools[0].chain_id)
            window = PoolReader(self.chainlink_hook, self.pools, quoted, self.quote_tokens).read(
                start, end, self.last_second_reading
            )
            loaded = store.load(self.chain, window, market, self.quote_tokens, context["run_id"])
        summary = {
            "chain": self.chain, "window_start": start.isoformat(), "window_end": end.isoformat(),
            "pools": len(self.pools), "readings": loaded.readings, "swaps": loaded.swaps,
            "first_block": window.first_block, "last_block": window.last_block,
            "rpc_requests": self.chainlink_hook.requests_made, "warehouse_statements": loaded.statements,
        }  # fmt: skip
        self.log.info("%s: %s pools, %s readings and %s swaps with %s RPC requests", self.chain, len(self.pools),
                      loaded.readings, loaded.swaps, summary["rpc_requests"])  # fmt: skip
        return summary

    def window(self, store: PoolStore) -> tuple[datetime, datetime]:
        """[start, end) in UTC; no window_start resumes from the pools' last loaded window end."""
        end = parse_time(self.window_end, "window_end")
        if self.window_start:
            return parse_time(self.window_start, "window_start"), end
        return store.last_loaded(self.chain, self.pools) or end - RESUME_LOOKBACK, end
