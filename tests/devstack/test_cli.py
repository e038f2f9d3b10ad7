"""`python -m devstack truth DAY` prints what the proxies served on a UTC day, and what they never served;
`status` lists every service and Airflow component."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

from devstack.settings import PROJECT_DIR
from devstack.simulation import history


def truth_of(day: datetime) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "devstack", "truth", day.date().isoformat(), "--pair", history.PHASE_CHANGE_PAIR],
        capture_output=True, text=True, check=True, cwd=PROJECT_DIR,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}"},
    )  # fmt: skip
    printed = json.loads(out.stdout)
    assert "SIMULATED" in printed["label"]
    return printed["feeds"][history.PHASE_CHANGE_PAIR]


def test_truth_prints_the_served_day_and_its_carry_in(stack, truth) -> None:
    day = stack.phase_change_at.replace(hour=0, minute=0)
    feed = truth_of(day)
    assert [(p["phase"], p["kind"]) for p in feed["phases"]] == [(1, "flux"), (2, "ocr")]
    assert feed["phases"][1]["activated_at"] == stack.phase_change_at.isoformat()
    rows = feed["served"]
    assert rows[0]["is_carry_in"] and not any(r["is_carry_in"] for r in rows[1:])
    expected = history.rounds_in_window(truth[history.PHASE_CHANGE_PAIR], day, day + timedelta(days=1))
    assert [(int(r["round_id"]), r["served_from"]) for r in rows[1:]] == [
        (s.round.round_id, s.served_from_utc.isoformat()) for s in expected
    ]
    assert {r["phase"] for r in rows[1:]} == {1, 2}


def test_truth_marks_the_rounds_never_served(stack, feed_by_pair) -> None:
    never = history.never_served(history.phases(feed_by_pair[history.PHASE_CHANGE_PAIR], stack))
    tail = next(r for r in never if r.updated_at >= stack.phase_change_at.timestamp())  # the old phase's
    day = tail.updated_at_utc.replace(hour=0, minute=0, second=0)
    printed = truth_of(day)["never_served"]
    expected = [r for r in never if day <= r.updated_at_utc < day + timedelta(days=1)]
    assert [int(r["round_id"]) for r in printed] == [r.round_id for r in expected]
    assert all(r["is_never_served"] and r["served_from"] is None for r in printed)


def test_status_lists_the_stack_and_each_airflow_component(stack) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "devstack", "status"],
        capture_output=True, text=True, check=True, cwd=PROJECT_DIR,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}"},
    ).stdout  # fmt: skip
    states = {line[:24].strip(): line[24:].strip() for line in out.splitlines()}
    assert states["anvil"].startswith("running, pid ") and states["fakesnow"].startswith("running, pid ")
    components = ["api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2"]
    assert {"postgres", "redis", "dashboard", *(f"airflow {c}" for c in components)} <= set(states)
