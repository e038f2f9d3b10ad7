"""The warehouse layer: the Snowflake hook and the raw tables, each declared once.

- `hooks.py`: `PegSnowflakeHook`, the provider's SnowflakeHook plus a `protocol` extra (the emulator's).
- `spec.py`: `TableSpec`, from which a table's DDL, MERGE and added-column migration are generated,
  and the SQL helpers every store shares (`timestamp_literal`, `ROWS_PER_STATEMENT`).
- `tables.py`: the raw tables: the ingest's `CHAINLINK_*` and the alerts' `PEG_ALERT_TRANSITIONS`.

It imports no other plugin package: `chainlink_feeds`, `peg_alerts` and `peg_monitor` build on it.
"""
