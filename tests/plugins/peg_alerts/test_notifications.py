"""notify_pipeline_failure: the provider's AppriseNotifier announces a failed run on `apprise_default`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

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


@pytest.mark.parametrize(
    ("label", "head"),
    [
        # the local stack's label: each page says its data is SIMULATED
        ("SIMULATED Chainlink history (not real market data)", "SIMULATED Chainlink history (not real market data)"),
        # a malformed label holds no page back: the page names it instead
        ("SIMULATED\nsecond line", "(PEG_DATA_LABEL must be one line of at most 200 printable characters)"),
    ],
)
def test_a_labelled_deployments_pages_carry_the_label(receiver, monkeypatch, label: str, head: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_APPRISE_DEFAULT", json.dumps({"conn_type": "apprise", "extra": {
        "config": {"path": apprise_url(receiver.port)}
    }}))  # fmt: skip
    monkeypatch.setenv("PEG_DATA_LABEL", label)
    dag_run = SimpleNamespace(dag_id="d", run_id="r", logical_date="", data_interval_start="", data_interval_end="")
    notify_pipeline_failure({"dag_run": dag_run, "reason": "task_failure"})
    (alert,) = receiver.received
    assert alert["title"] == "[peg monitor] d failed"
    assert alert["message"].startswith(f"{head}\n\nDAG run r of d failed")


def test_a_notice_the_receiver_refuses_is_not_taken_for_delivered(monkeypatch, tmp_path) -> None:
    """The provider's notifier drops apprise's result; ours raises, so the notice can wait in the
    outbox (queued through Airflow Variables in a real run: see tests/e2e/test_realtime.py)."""
    from peg_alerts.hooks import AlertDeliveryError
    from tests.support.scratch_chain import free_port

    monkeypatch.setenv("AIRFLOW_CONN_APPRISE_DEFAULT", json.dumps({"conn_type": "apprise", "extra": {
        "config": {"path": apprise_url(free_port())}  # nothing listens there
    }}))  # fmt: skip
    dag_run = SimpleNamespace(dag_id="d", run_id="r", logical_date="", data_interval_start="", data_interval_end="")
    with pytest.raises(AlertDeliveryError, match="apprise did not deliver '\\[peg monitor\\] d failed'"):
        notify_pipeline_failure({"dag_run": dag_run}, queue_undelivered=False)
