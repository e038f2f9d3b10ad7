"""Celery workers' configuration: Airflow's default, with dbt, its Snowflake adapter and web3 loaded once
per worker instead of once per task.

Airflow 3's Celery worker forks a process for each task from its pool. Cosmos runs dbt inside that
process (`InvocationMode.DBT_RUNNER`, when dbt sits beside Airflow), so every model's task imported
dbt-core and the Snowflake adapter again: about 3 s of CPU each, a third of a model task on the local
stack (web3, for the loads, about 1.3 s). Imported here, in the worker before it forks its pool, they
are already loaded in every task. Only third-party libraries are: the project's own modules are still
imported fresh by each task, so a change under `plugins/` needs no worker restart.

For workers that run dbt in-process: `[celery] celery_config_options =
peg_monitor.celery_worker.CELERY_CONFIG` (the local stack sets it on its workers, not on the
scheduler, which runs no task). Where dbt lives in a virtualenv of its own (the Astro image's
`PEG_DBT_EXECUTABLE`), keep Airflow's default.
"""

from __future__ import annotations

# Imported only to be loaded before the worker forks (see the docstring).
import dbt.adapters.snowflake
import dbt.cli.main  # noqa: F401
import web3  # noqa: F401
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = DEFAULT_CELERY_CONFIG
