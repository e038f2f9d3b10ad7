"""The project-local Airflow: its environment (`airflow_env`), metadata DB and pools (`airflow_init`),
the Celery-shaped cluster (`celery`) or `airflow standalone` (`standalone`), and the REST calls that
drive its DAGs (`rest`). `worker_hostname` and `sqlite_connect_args` are named in Airflow settings."""
