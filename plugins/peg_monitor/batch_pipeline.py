"""The task graph of the two batch DAGs, one window per run: the daily DAG (a UTC day) and the
history DAG (a calendar month, for backfilling years at a cost that grows with what is loaded).

Per chain, one task loads every feed and reference (`ChainlinkChainOperator`) and one every pool
(`MarketPoolOperator`); `marts_due` lets the run build the marts unless another run of the same
backfill builds them after every load; Cosmos renders the dbt project as one task per model; the
marts freshness gate and the deferred dashboard check follow; the alerts read the raw tables after
the loads, beside dbt.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cosmos import DbtTaskGroup

from chainlink_feeds.operators import ChainlinkChainOperator
from chainlink_feeds.registry import load_market
from market_pools.operators import MarketPoolOperator
from peg_alerts.notifications import notify_pipeline_failure
from peg_alerts.operators import PegAlertOperator
from peg_monitor import settings
from peg_monitor.dbt_project import DbtSettings
from peg_monitor.lineage import raw_rounds_asset
from peg_monitor.marts_due import MartsDueOperator
from peg_monitor.sensors import DashboardFreshnessSensor, MartsFreshnessSensor

DEFAULT_ARGS = {"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=1)}


def batch_dag_arguments() -> dict[str, Any]:
    """What both batch DAGs' `@dag` share: the start and end dates (settings), no catchup, the
    tasks' owner and retries, and the failure page."""
    return {
        "start_date": settings.start_date(),
        "end_date": settings.end_date(),
        "catchup": False,
        "default_args": DEFAULT_ARGS,
        "on_failure_callback": notify_pipeline_failure,
    }


def add_batch_tasks() -> None:
    """Add the loads, the marts build, the gate, the dashboard check and the alerts to the DAG being
    defined (call it inside a `@dag` function); the windows are the run's data interval."""
    rpc_pool, warehouse_pool = settings.rpc_pool().name, settings.warehouse_pool().name
    dbt = DbtSettings()
    raw_rounds = raw_rounds_asset(dbt.raw_schema)  # named as Cosmos names the marts (lineage.py)
    market = load_market()  # read once at parse time
    references = market.references_in_use()  # they price the pools: loaded, no peg, no alerts
    oracle_chains = sorted({oracle.chain for oracle in (*market.feeds, *references)})
    loads = [
        ChainlinkChainOperator(task_id=f"ingest_{chain}", chain=chain, pool=rpc_pool, outlets=[raw_rounds])
        for chain in oracle_chains
    ]
    market_chains = sorted({pool.chain for pool in market.pools})
    market = [MarketPoolOperator(task_id=f"market_{chain}", chain=chain, pool=rpc_pool) for chain in market_chains]
    transform = DbtTaskGroup(
        group_id="dbt", default_args=DEFAULT_ARGS | {"pool": warehouse_pool}, **dbt.cosmos_kwargs()
    )
    # A backfill builds the marts (over the whole history) once, in the run whose loads finish last.
    marts_due = MartsDueOperator(task_id="marts_due", load_task_ids=[t.task_id for t in (*loads, *market)])
    gate = MartsFreshnessSensor(task_id="marts_freshness_gate", pool=warehouse_pool)
    refresh_check = DashboardFreshnessSensor(task_id="dashboard_refresh_check")
    [*loads, *market] >> marts_due >> transform >> gate >> refresh_check
    # Alerts read the raw tables and the views over them, not the built marts: they need not wait
    # for dbt, nor does a dbt failure hold them; one chain's failed load does not hold the others'
    # alerts either (all_done).
    [*loads, *market] >> PegAlertOperator(task_id="peg_alerts", pool=warehouse_pool, trigger_rule="all_done")
