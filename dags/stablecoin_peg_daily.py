"""
### Stablecoin peg monitor: daily

Watches whether stablecoins hold their $1.00 peg, from Chainlink price feeds on Ethereum.

Each run covers exactly one UTC day, [data_interval_start, data_interval_end). One ingest task per
feed in `include/feeds.yaml` reads every Chainlink round the feed's proxy served during that day
(plus the round it served just before, the carry-in that gives the day its opening price; rounds the
proxy never served, such as a new aggregator's rounds before the switch, are stored apart) through
the `chainlink_<chain>` connection and MERGEs them into Snowflake's raw tables through
`snowflake_default`. Re-running a day changes
nothing; backfill any range from the Airflow UI (Backfill button) or
`airflow backfill create --dag-id stablecoin_peg_daily --from-date ... --to-date ...`.

Beside them, one `market_<chain>` task per chain reads every Uniswap v3 pool the registry lists
on that chain for the day (hour readings and every Swap, `plugins/market_pools`) into the
`MARKET_*` raw tables through the same connections, and an `ingest_<reference>` task loads each
Chainlink reference a pool is priced through (ETH/USD for the WETH pools: no peg, no alerts).

Then `marts_due` lets the run build the marts, unless it is a backfill run whose marts another
run of the same backfill builds after every load: a backfill builds them once, not once per day
(the skipped runs show dbt, the gate and the dashboard check as skipped, and are green).

Cosmos renders the dbt project (`include/dbt`) as one task per model, each followed by its
tests: staging views, the served-interval and market-price views (intermediate), then the marts (peg health, hourly
z-scores, depeg events with who saw them, daily summary, feed staleness, market vs oracle: divergence, silent
oracle, thin market) in the `ANALYTICS_*` schemas.

A freshness gate then checks the marts cover the day for every feed (a stale feed is reported, not
hidden), and a deferred refresh check waits until the separately deployed Streamlit dashboard
serves the new day (`PEG_DASHBOARD_CHECK=warn` makes a missing or stale dashboard a warning
instead of a failure).

Beside dbt, `peg_alerts` finds each feed's peg-status (with hysteresis) and heartbeat transitions
on the served series in the raw tables, records each once in `PEG_ALERT_TRANSITIONS` and pages the
new ones through the apprise connection `apprise_default` (a backfill records, never pages; a
transition older than `PEG_ALERT_MAX_AGE_HOURS`, 26, is recorded unpaged). A failed run is
announced through the same connection (the provider's `AppriseNotifier`).

Connections: `chainlink_ethereum` (RPC URL, API key as password), `snowflake_default` (used by
the ingest, dbt, the gate and the alerts), `dashboard_default` (HTTP, the app's URL; the alerts link
to it), `apprise_default` (apprise, the alert URLs). Pools: `chainlink_rpc`
bounds concurrent RPC reads, `snowflake_warehouse` concurrent warehouse work.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, dag
from cosmos import DbtTaskGroup

from chainlink_feeds.operators import ChainlinkFeedOperator
from chainlink_feeds.registry import load_market, load_registry
from market_pools.operators import MarketPoolOperator
from peg_alerts.notifications import notify_pipeline_failure
from peg_alerts.operators import PegAlertOperator
from peg_monitor import settings
from peg_monitor.dbt_project import DbtSettings
from peg_monitor.lineage import raw_rounds_asset
from peg_monitor.marts_due import MartsDueOperator
from peg_monitor.sensors import DashboardFreshnessSensor, MartsFreshnessSensor

RPC_POOL = settings.rpc_pool().name
WAREHOUSE_POOL = settings.warehouse_pool().name
MAX_ACTIVE_RUNS = int(os.environ.get("PEG_MAX_ACTIVE_RUNS", "4"))

FEEDS = load_registry()
MARKET = load_market()
MARKET_CHAINS = sorted({pool.chain for pool in MARKET.pools})
# The Chainlink references a market source prices its pool's other token with (ETH/USD for WETH):
# loaded like the feeds, for dbt's USD prices; no peg, no alerts.
REFERENCES = MARKET.references_in_use()
DBT = DbtSettings()
# The raw table, named as Cosmos names the marts, in the schema dbt reads it from (see lineage.py).
RAW_ROUNDS = raw_rounds_asset(DBT.raw_schema)


@dag(
    dag_id="stablecoin_peg_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=settings.start_date(),
    end_date=settings.end_date(),
    catchup=False,
    max_active_runs=MAX_ACTIVE_RUNS,
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["stablecoin", "chainlink", "snowflake"],
    doc_md=__doc__,
    on_failure_callback=notify_pipeline_failure,
)
def stablecoin_peg_daily() -> None:
    # One ingest per feed and per reference (the references' rounds price the pools; nobody is paged on them).
    loads = {
        oracle.task_id: ChainlinkFeedOperator(
            task_id=f"ingest_{oracle.task_id}",
            feed_pair=oracle.pair,
            chain=oracle.chain,
            pool=RPC_POOL,
            outlets=[RAW_ROUNDS],
        )
        for oracle in (*FEEDS, *REFERENCES)
    }
    ingest = [loads[feed.task_id] for feed in FEEDS]
    # The market beside the oracle: one task per chain reads every registry pool of that chain.
    market = [MarketPoolOperator(task_id=f"market_{chain}", chain=chain, pool=RPC_POOL) for chain in MARKET_CHAINS]
    transform = DbtTaskGroup(
        group_id="dbt",
        default_args={
            "owner": "data-platform",
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "pool": WAREHOUSE_POOL,
        },
        **DBT.cosmos_kwargs(),
    )
    # A backfill builds the marts (over the whole history) once, in the run whose loads finish last.
    marts_due = MartsDueOperator(task_id="marts_due", load_task_ids=[t.task_id for t in (*loads.values(), *market)])
    gate = MartsFreshnessSensor(task_id="marts_freshness_gate", pool=WAREHOUSE_POOL)
    refresh_check = DashboardFreshnessSensor(task_id="dashboard_refresh_check")
    [*loads.values(), *market] >> marts_due >> transform >> gate >> refresh_check
    # Alerts read the raw tables, not the marts: they need not wait for dbt, nor does a dbt failure
    # hold them; one feed's failed ingest does not hold the others' alerts either (all_done).
    ingest >> PegAlertOperator(task_id="peg_alerts", pool=WAREHOUSE_POOL, trigger_rule="all_done")


stablecoin_peg_daily()
