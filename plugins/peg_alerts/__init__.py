"""The peg alerts: each feed's peg-status, heartbeat and market-witness transitions, recorded once and
paged; and the monitor's own silence.

- `operators.py`: `PegAlertOperator`, the task that finds, records and sends the transitions.
- `rules.py`: the oracle's transitions (thresholds with hysteresis, heartbeat misses), pure functions.
- `market_rules.py`: the market witness's (silent oracle, lasting divergence, thin market).
- `store.py`: the alert state in the warehouse (`PEG_ALERT_TRANSITIONS`: claims, leases, sent).
- `outbox.py`: what waits unsent, in Airflow Variables the near-real-time trigger wakes on.
- `messages.py`: what an alert says, with a link to the dashboard.
- `hooks.py`: `PegAppriseHook`, an AppriseHook that fails when a notification is not delivered.
- `notifications.py`: `notify_pipeline_failure`, the DAGs' failure callback.
- `deadman.py`: `DeadManPingOperator`, the ping of a dead-man's switch outside Airflow.

It reads the ingest's raw tables through `warehouse.tables` and the dashboard connection through
`peg_monitor.freshness`; neither `chainlink_feeds` nor `peg_monitor` imports it.
"""
