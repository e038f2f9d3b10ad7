"""SQLAlchemy connect args for the project-local Airflow's SQLite DB (via
AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS): wait up to 30 s for a lock instead of 5 s, since the
scheduler, DAG processor, triggerer, API server and tasks all write to one file."""

CONNECT_ARGS = {"timeout": 30}
