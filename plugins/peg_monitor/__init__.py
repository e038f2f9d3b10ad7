"""Peg-monitor specific Airflow pieces: the Snowflake hook variant and the sensors."""
