"""The pipeline after the ingest: the dbt glue, the lineage and the freshness gate.

- `settings.py`: what both DAGs and the stack share (start date, pools, schema names), read when used.
- `batch_pipeline.py`: the task graph the daily and history DAGs share.
- `dbt_project.py` + `dbt_profile.py`: Cosmos settings, the manifest check, the profile mapping.
- `celery_worker.py`: a Celery config for workers that run dbt in-process: dbt loaded once per worker.
- `lineage.py`: the raw tables' asset, named as Cosmos and OpenLineage name Snowflake tables.
- `marts_due.py`: a backfill builds the marts once, in the run whose loads finish last.
- `sensors.py` + `triggers.py` + `freshness.py`: the marts freshness gate and the deferred check that
  the dashboard serves the run's window (`freshness.dashboard_url_of` also gives the alerts' links).
- `urls.py`: a URL from an HTTP connection's fields (the dashboard's, the dead-man's switch's).

The Snowflake hook lives in `warehouse`, the alerts in `peg_alerts`.
"""
