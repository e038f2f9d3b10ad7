"""notify_pipeline_failure: the provider's AppriseNotifier announces a failed run on `apprise_default`."""

from __future__ import annotations

import json
from types import SimpleNamespace

from devstack.services.alert_receiver import apprise_url
from peg_alerts.notifications import notify_pipeline_failure


def test_a_failed_run_is_announced_by_the_providers_notifier(receiver, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_APPRISE_DEFAULT", json.dumps({"conn_type": "apprise", "extra": {
        "config": {"path": apprise_url(receiver.port)}
    }}))  # fmt: skip
    dag_run = SimpleNamespace(
        dag_id="stablecoin_peg_daily", run_id="scheduled__2026-01-01T00:00:00+00:00", logical_date="2026-01-01",
        data_interval_start="2026-01-01", data_interval_end="2026-01-02",
    )  # fmt: skip
    notify_pipeline_failure({"dag_run": dag_run, "reason": "task_failure"})
    (alert,) = receiver.received
    assert alert["type"] == "failure" and alert["title"] == "[peg monitor] stablecoin_peg_daily failed"
    assert "scheduled__2026-01-01T00:00:00+00:00 of stablecoin_peg_daily failed: task_failure" in alert["message"]
