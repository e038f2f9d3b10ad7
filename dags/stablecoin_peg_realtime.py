"""
### Stablecoin peg monitor: near-real-time

Brings each new Chainlink round to the dashboard within a couple of minutes of its block.

Event-driven: for every chain in `include/feeds.yaml`, an `AssetWatcher` runs a `PoolMoveTrigger` in
the triggerer, which asks every proxy (on an L2 its sequencer uptime feed's too) for its latest
round, and every pool between two stablecoins for its price (`slot0`), every `PEG_REALTIME_POLL_SECONDS` (10 s) in one JSON-RPC batch. It starts
this DAG when a proxy serves a new round, when one's latest round outlives its heartbeat plus grace
(the missed heartbeat is paged within a poll), or when a pool's price moved by
`PEG_REALTIME_POOL_STEP_BPS` (25) since it last fired: the market can leave its peg while the oracle
says nothing. A move is looked at again a little over the registry's `silent_oracle_minutes` later
(the shortest of the chain's feeds), so a market that stays away while the oracle publishes nothing
is paged as a silent oracle within minutes, not at the oracle's heartbeat. When it has fired nothing
for `PEG_REALTIME_ALIVE_MINUTES` (10), it fires anyway: that run pings the dead-man's switch (below).
While pages wait unsent (the receiver was down), it wakes the DAG every minute until they are sent.
A cron fallback (`PEG_REALTIME_CRON`, hourly) runs it anyway, so a stopped triggerer
delays rounds, never loses them. Two runs may be active, so a move during a run starts the next one
at once; each task runs in one run at a time (`max_active_tis_per_dag=1`), so the next run's loads
follow the earlier run's and its alerts the earlier alerts.

Each run loads, per chain in one task, every feed's rounds from the last one stored up to the run's
start (the same `ChainlinkChainOperator` and MERGE as the daily DAG, so the two never duplicate a
row), and per chain
every registry pool's swaps and readings since its last load, the last at the run's start
(`MarketPoolOperator`), plus the references the pools are priced through. The
dashboard's per-round marts (`stablecoin_peg_health`, `chainlink_feed_staleness`) are views over the
raw tables, so nothing is rebuilt: the Peg Deviation page, the status cards and `/api/freshness`
show the round as soon as it is merged. So is `stablecoin_market_vs_oracle`, the market beside the
oracle. Then `peg_alerts` pages the on-call (apprise, connection `apprise_default`) for each
peg-status, heartbeat or market-witness transition (silent oracle, lasting divergence, thin market)
not sent yet, and the failure notices a failed run could not deliver (`peg_alerts.outbox`).
Last, `ping_deadman` pings the dead-man's switch in connection `peg_deadman` (a healthchecks-style
URL; none set: no ping) when every load and the alerts succeeded in a run the trigger started: a
stopped triggerer, scheduler, worker pool or warehouse stops the pings, and the check outside
Airflow pages. The daily DAG stays the
source of complete, audited days and of the daily, hourly and depeg-event tables.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, dag

from chainlink_feeds.operators import ChainlinkChainOperator
from chainlink_feeds.registry import load_market, load_registry
from market_pools.operators import MarketPoolOperator
from market_pools.triggers import PoolMoveTrigger
from peg_alerts.deadman import DeadManPingOperator
from peg_alerts.notifications import notify_pipeline_failure
from peg_alerts.operators import PegAlertOperator
from peg_alerts.outbox import WAKE_VARIABLES
from peg_monitor import settings
from peg_monitor.lineage import raw_rounds_asset

RPC_POOL = settings.rpc_pool().name
WAREHOUSE_POOL = settings.warehouse_pool().name
FALLBACK_CRON = os.environ.get("PEG_REALTIME_CRON", "0 * * * *")
POLL_SECONDS = float(os.environ.get("PEG_REALTIME_POLL_SECONDS", "10"))
POOL_STEP_BPS = float(os.environ.get("PEG_REALTIME_POOL_STEP_BPS", "25"))
ALIVE_MINUTES = float(os.environ.get("PEG_REALTIME_ALIVE_MINUTES", "10"))

FEEDS = load_registry()
MARKET = load_market()
# The references the pools are priced through, loaded beside the feeds (as in the daily DAG).
REFERENCES = MARKET.references_in_use()
RAW_ROUNDS = raw_rounds_asset(settings.raw_schema())


def recheck_after(chain: str) -> float:
    """Seconds from a pool move to the run that can call the oracle silent: the chain's shortest
    silent_oracle_minutes, plus three polls for the runs' start-up jitter."""
    return min(f.silent_oracle_minutes for f in FEEDS if f.chain == chain) * 60 + 3 * POLL_SECONDS


def watched_proxies(chain: str) -> list[str]:
    """The chain's feeds' proxies and, on an L2, its sequencer uptime feed's: a status change is a
    new round there, so the run that marks the chain's prices untrusted and pages starts at once."""
    sequencer = MARKET.sequencer(chain)
    return [f.proxy for f in FEEDS if f.chain == chain] + ([sequencer.sequencer_uptime_feed] if sequencer else [])


# One watched asset per chain: a new round on any of its proxies, or a pool move, is an event.
NEW_ROUNDS = [
    Asset(
        name=f"chainlink_{chain}_new_rounds",
        group="peg_monitor",
        watchers=[
            AssetWatcher(
                name=f"chainlink_{chain}_new_rounds",
                trigger=PoolMoveTrigger(
                    chainlink_conn_id=f"chainlink_{chain}",
                    proxies=watched_proxies(chain),
                    pools=[p.address for p in MARKET.stable_pools(chain)],
                    step_bps=POOL_STEP_BPS,
                    recheck_after=recheck_after(chain),
                    alive_every=ALIVE_MINUTES * 60,
                    wake_variables=WAKE_VARIABLES,
                    poll_interval=POLL_SECONDS,
                    stale_after={
                        f.proxy: f.heartbeat_seconds + f.heartbeat_grace_seconds for f in FEEDS if f.chain == chain
                    },
                ),
            )
        ],
    )
    for chain in sorted({f.chain for f in FEEDS})
]


@dag(
    dag_id="stablecoin_peg_realtime",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(FALLBACK_CRON, timezone="UTC"), assets=AssetAny(*NEW_ROUNDS)
    ),
    start_date=settings.start_date(),
    catchup=False,
    max_active_runs=2,  # with max_active_tis_per_dag=1: see the docstring (swap -> dashboard p95 40.7 s -> 21.6 s)
    dagrun_timeout=timedelta(minutes=15),
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=15),
        "max_active_tis_per_dag": 1,
    },
    tags=["stablecoin", "chainlink", "snowflake", "realtime"],
    on_failure_callback=notify_pipeline_failure,
    doc_md=__doc__,
)
def stablecoin_peg_realtime() -> None:
    # Per chain, every feed's and reference's rounds from the last one stored, in one task; per chain,
    # the pools since their last load.
    loads = [
        ChainlinkChainOperator(
            task_id=f"ingest_{chain}",
            chain=chain,
            window_start=None,  # resume from each feed's last round stored
            window_end="{{ dag_run.run_after }}",
            pool=RPC_POOL,
            outlets=[RAW_ROUNDS],
        )
        for chain in sorted({oracle.chain for oracle in (*FEEDS, *REFERENCES)})
    ]
    market = [
        MarketPoolOperator(
            task_id=f"market_{chain}",
            chain=chain,
            window_start=None,  # resume from the pools' last loaded window
            window_end="{{ dag_run.run_after }}",
            last_second_reading=True,  # the market's price of now, for its verdicts
            pool=RPC_POOL,
        )
        for chain in sorted({p.chain for p in MARKET.pools})
    ]
    # The alerts read the rounds, the pools and the references; all_done: one failed load does not
    # hold the other feeds' alerts.
    peg_alerts = PegAlertOperator(task_id="peg_alerts", pool=WAREHOUSE_POOL, trigger_rule="all_done")
    # Needs every load: a failed one fails the run, so on_failure_callback pages for it (peg_alerts,
    # all_done, would not).
    all_feeds_loaded = EmptyOperator(task_id="all_feeds_loaded")
    [*loads, *market] >> peg_alerts
    [*loads, *market] >> all_feeds_loaded
    # The only leaf: pinged only when everything above succeeded.
    [peg_alerts, all_feeds_loaded] >> DeadManPingOperator(task_id="ping_deadman")


stablecoin_peg_realtime()
