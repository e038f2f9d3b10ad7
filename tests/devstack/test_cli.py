"""`python -m devstack truth DAY` prints the ground truth of a UTC day."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from devstack import history
from devstack.settings import PROJECT_DIR


def test_truth_prints_the_day_and_its_carry_in(stack, truth) -> None:
    day = (stack.phase_change_at - timedelta(hours=13, minutes=40)).date()
    out = subprocess.run(
        [sys.executable, "-m", "devstack", "truth", day.isoformat(), "--pair", history.PHASE_CHANGE_PAIR],
        capture_output=True, text=True, check=True, cwd=PROJECT_DIR,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}"},
    )  # fmt: skip
    printed = json.loads(out.stdout)
    assert "SIMULATED" in printed["label"]
    rows = printed["feeds"][history.PHASE_CHANGE_PAIR]
    assert rows[0]["is_carry_in"] and not any(r["is_carry_in"] for r in rows[1:])
    expected = [r for r in truth[history.PHASE_CHANGE_PAIR] if r.updated_at_utc.date() == day]
    assert [int(r["round_id"]) for r in rows[1:]] == [r.round_id for r in expected]
    assert {r["phase"] for r in rows[1:]} == {1, 2}
