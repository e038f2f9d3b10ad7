"""
### Stablecoin peg monitor: daily

Watches whether stablecoins hold their $1.00 peg, from Chainlink price feeds on Ethereum.

Each run covers exactly one UTC day, [data_interval_start, data_interval_end). One `ingest_<chain>`
task per chain reads, for every feed of that chain in `include/feeds.yaml`, every Chainlink round
the feed's proxy served during that day
(plus the round it served just before, the carry-in that gives the day its opening price; rounds the
proxy never served, such as a new aggregator's rounds before the switch, are stored apart) through
the `chainlink_<chain>` connection and MERGEs them into Snowflake's raw tables through
`snowflake_default`. Re-running a day changes
nothing; backfill any range from the Airflow UI (Backfill button) or
`airflow backfill create --dag-id stablecoin_peg_daily --from-date ... --to-date ...`. For months
or years, backfill `stablecoin_peg_history` instead: the same tasks over one month per run.

Beside them, one `market_<chain>` task per chain reads every Uniswap v3 pool the registry lists
on that chain for the day (hour readings and every Swap, `plugins/market_pools`) into the
`MARKET_*` raw tables through the same connections; the chain's ingest also loads each Chainlink
reference a pool is priced through (ETH/USD for the WETH pools: no peg, no alerts). A feed that
fails to load fails its chain's task after the others are stored; the task count grows with the
chains, not with the feeds.

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
on the served series in the raw tables, and its market-witness ones (silent oracle, lasting
divergence, thin market) in the market-vs-oracle view, records each once in `PEG_ALERT_TRANSITIONS` and pages the
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

from airflow.sdk import CronDataIntervalTimetable, dag

from peg_monitor.batch_pipeline import add_batch_tasks, batch_dag_arguments

MAX_ACTIVE_RUNS = int(os.environ.get("PEG_MAX_ACTIVE_RUNS", "4"))


@dag(
    dag_id="stablecoin_peg_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    max_active_runs=MAX_ACTIVE_RUNS,
    tags=["stablecoin", "chainlink", "snowflake"],
    doc_md=__doc__,
    **batch_dag_arguments(),
)
def stablecoin_peg_daily() -> None:
    add_batch_tasks()  # the graph above (plugins/peg_monitor/batch_pipeline.py, shared with the history DAG)


stablecoin_peg_daily()
