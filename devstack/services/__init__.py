"""The stack's background services, one pidfile and one log each (`processes`): the Snowflake emulator
(`fakesnow_server`, started and bootstrapped by `emulator`), Postgres and Redis for Airflow
(`postgres`, `redis_broker`), the on-call inbox (`alert_receiver`) and the Streamlit dashboard."""
