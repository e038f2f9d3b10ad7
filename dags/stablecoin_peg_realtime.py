"""
### Stablecoin peg monitor: near-real-time

Keeps the raw Chainlink tables fresh between daily runs, so the dashboard shows new rounds within
minutes. Every few minutes, for every feed in `include/feeds.yaml`, it loads the rounds from the
last one already stored up to now (the same `ChainlinkFeedOperator` and MERGE as the daily DAG, so
the two never duplicate a row). The daily DAG stays the source of complete, audited days.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag
from airflow.timetables.trigger import CronTriggerTimetable

from chainlink_feeds.operators import ChainlinkFeedOperator
from chainlink_feeds.registry import load_registry

START_DATE = datetime.fromisoformat(os.environ.get("PEG_START_DATE", "2024-01-01T00:00:00+00:00"))
RPC_POOL = os.environ.get("PEG_RPC_POOL", "chainlink_rpc")
CRON = os.environ.get("PEG_REALTIME_CRON", "*/5 * * * *")

FEEDS = load_registry()


@dag(
    dag_id="stablecoin_peg_realtime",
    schedule=CronTriggerTimetable(CRON, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=15),
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["stablecoin", "chainlink", "snowflake", "realtime"],
    doc_md=__doc__,
)
def stablecoin_peg_realtime() -> None:
    for feed in FEEDS:
        ChainlinkFeedOperator(
            task_id=f"ingest_{feed.task_id}",
            feed_pair=feed.pair,
            chain=feed.chain,
            window_start=None,  # resume from the last round stored
            window_end="{{ data_interval_end }}",
            pool=RPC_POOL,
        )


stablecoin_peg_realtime()
