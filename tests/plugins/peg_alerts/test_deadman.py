"""DeadManPingOperator against devstack's inbox, which is also a healthchecks-style dead-man's switch:
a run the trigger started pings it; a manual or cron run, or no switch configured, does not; a switch
that refuses the ping is a warning naming the answer, not a failed run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import requests

from devstack.services.alert_receiver import ping_url
from peg_alerts.deadman import DeadManHook, DeadManPingError, DeadManPingOperator

CONN_ID = "peg_deadman_test"


def ping(run_type: str) -> bool:
    operator = DeadManPingOperator(task_id="ping_deadman", deadman_conn_id=CONN_ID)
    return operator.execute({"dag_run": SimpleNamespace(run_type=run_type)})


def use_switch(monkeypatch: pytest.MonkeyPatch, **conn: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "http", **conn}))


def checks(port: int) -> dict:
    return requests.get(f"http://127.0.0.1:{port}/checks", timeout=5).json()


def test_a_run_the_trigger_started_pings_and_others_do_not(receiver, monkeypatch) -> None:
    use_switch(monkeypatch, host=ping_url("peg-test", receiver.port))
    assert ping("manual") is False and ping("scheduled") is False
    assert checks(receiver.port) == {}  # a cron or manual run proves the scheduler, not the triggerer
    assert ping("asset_triggered") is True
    assert checks(receiver.port)["peg-test"]["down"] is False


def test_no_switch_configured_pings_nothing(monkeypatch) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    assert ping("asset_triggered") is False
    use_switch(monkeypatch)  # a connection without a host: the switch turned off (a test's cluster)
    assert ping("asset_triggered") is False


def test_a_switch_that_refuses_the_ping_is_a_warning_naming_the_answer(receiver, monkeypatch, capsys) -> None:
    use_switch(monkeypatch, host=f"http://127.0.0.1:{receiver.port}/ping/")  # no check named: HTTP 400
    assert ping("asset_triggered") is False
    assert f"connection '{CONN_ID}' refused 3 pings: HTTP 400" in capsys.readouterr().out  # the task log
    with pytest.raises(DeadManPingError, match="refused 3 pings: HTTP 400"):
        DeadManHook(CONN_ID).ping(f"http://127.0.0.1:{receiver.port}/ping/")


def test_a_port_kept_in_the_connection_goes_into_the_host_not_the_path(monkeypatch) -> None:
    use_switch(monkeypatch, host="https://hc.example/ping/abc", port=8443)
    assert DeadManHook(CONN_ID).url() == "https://hc.example:8443/ping/abc"
    use_switch(monkeypatch, host="hc.example/ping/abc")
    assert DeadManHook(CONN_ID).url() == "https://hc.example/ping/abc"
