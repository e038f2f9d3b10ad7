"""
### Stablecoin peg monitor: history (for backfills)

The daily DAG's pipeline over calendar months: made to backfill years from the Airflow UI (this
DAG's Backfill button) or `airflow backfill create --dag-id stablecoin_peg_history --from-date ...
--to-date ...`, at a cost that grows with what is loaded, not with the days.

A run covers one month, [data_interval_start, data_interval_end): per chain one `ingest_<chain>`
task loads every feed's served rounds (and the references the pools are priced through) of the
month, one `market_<chain>` task every pool's hourly readings and swaps, with the same operators,
validation and MERGE as the daily DAG, so the raw rows are the same whichever DAG loaded a day,
and loading a month again changes nothing. A two-year backfill is 24 runs of a few tasks each,
where the daily DAG's would be 730 runs; `marts_due` builds the marts once per backfill, in the run
whose loads finish last, after every load (they equal a load in order). The freshness gate checks
that the marts cover every day of the month for every feed; the dashboard check and the alerts are
the daily DAG's (a backfill records transitions, never pages).

Unpaused (a backfill's runs are scheduled only while the DAG is unpaused), it also runs once a month
for the month just ended: that reloads what the daily DAG loaded, and changes nothing. The daily DAG
stays the source of each new day.

Connections and pools: as the daily DAG.
"""

from __future__ import annotations

import os

from airflow.sdk import CronDataIntervalTimetable, dag

from peg_monitor.batch_pipeline import add_batch_tasks, batch_dag_arguments

MAX_ACTIVE_RUNS = int(os.environ.get("PEG_HISTORY_MAX_ACTIVE_RUNS", "2"))


@dag(
    dag_id="stablecoin_peg_history",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    max_active_runs=MAX_ACTIVE_RUNS,
    tags=["stablecoin", "chainlink", "snowflake", "backfill"],
    doc_md=__doc__,
    **batch_dag_arguments(),
)
def stablecoin_peg_history() -> None:
    add_batch_tasks()  # plugins/peg_monitor/batch_pipeline.py, shared with the daily DAG


stablecoin_peg_history()
