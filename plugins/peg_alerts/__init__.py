"""The peg alerts: each feed's peg-status and heartbeat transitions, recorded once and paged.

- `operators.py`: `PegAlertOperator`, the task that finds, records and sends the transitions.
- `rules.py`: the transitions (thresholds with hysteresis, heartbeat misses), pure functions.
- `store.py`: the alert state in the warehouse (`PEG_ALERT_TRANSITIONS`: claims, leases, sent).
- `messages.py`: what an alert says, with a link to the dashboard.
- `hooks.py`: `PegAppriseHook`, an AppriseHook that fails when a notification is not delivered.
- `notifications.py`: `notify_pipeline_failure`, the DAGs' failure callback.

It reads the ingest's raw tables through `warehouse.tables` and the dashboard connection through
`peg_monitor.freshness`; neither `chainlink_feeds` nor `peg_monitor` imports it.
"""
