"""Which run of a backfill builds the marts: the rule, over task states as Airflow reports them.

The rule running inside Airflow (a real Celery backfill, one building run, marts equal to an
in-order load) is in tests/e2e/test_backfill.py.
"""

from __future__ import annotations

from peg_monitor.marts_due import who_builds

LOADS = ("ingest_ethereum", "market_ethereum")
GUARD = "marts_due"
DAY = "backfill__2022-05-{:02d}T00:00:00+00:00"


def run(loads: str | None, guard: str | None = None) -> dict[str, str | None]:
    return {LOADS[0]: "success", LOADS[1]: loads, GUARD: guard}


def builder(me: str, states: dict, active: set[str] | None = None) -> str | None:
    active = set(states) if active is None else active
    asked: list[str] = []

    def is_active(other: str) -> bool:
        asked.append(other)
        return other in active

    found = who_builds(me, GUARD, LOADS, states, is_active)
    assert me not in asked
    return found


def test_the_last_run_to_finish_loading_builds() -> None:
    states = {DAY.format(11): run("success", "skipped"), DAY.format(12): run("success", "running")}
    assert builder(DAY.format(12), states) is None


def test_a_run_still_loading_builds_instead() -> None:
    for unfinished in (None, "scheduled", "queued", "running", "up_for_retry", "deferred"):
        states = {DAY.format(11): run("success", "running"), DAY.format(12): run(unfinished)}
        assert builder(DAY.format(11), states) == DAY.format(12), unfinished


def test_a_later_run_whose_guard_has_not_started_builds_instead() -> None:
    for not_started in (None, "scheduled", "queued", "up_for_retry"):
        states = {DAY.format(11): run("success", "running"), DAY.format(12): run("success", not_started)}
        assert builder(DAY.format(11), states) == DAY.format(12), not_started
        assert builder(DAY.format(12), {**states, DAY.format(12): run("success", "running")}) is None


def test_two_guards_looking_at_once_may_both_build_but_never_both_skip() -> None:
    """The later guard may already have looked while the earlier run was still loading (and skipped
    on it): the earlier one must not count on it."""
    states = {DAY.format(11): run("success", "running"), DAY.format(12): run("success", "running")}
    assert builder(DAY.format(11), states) is None
    assert builder(DAY.format(12), states) is None


def test_a_guard_that_already_decided_to_build_covers_the_earlier_runs_loads() -> None:
    states = {DAY.format(11): run("success", None), DAY.format(12): run("success", "success")}
    assert builder(DAY.format(11), states) == DAY.format(12)


def test_finished_runs_and_their_old_builds_do_not_count() -> None:
    states = {
        DAY.format(1): run("success", "success"),  # an old backfill's build
        DAY.format(11): run(None),  # a run marked failed before it loaded
        DAY.format(12): run("success", "running"),
    }
    assert builder(DAY.format(12), states, active={DAY.format(12)}) is None


def test_a_failed_load_elsewhere_does_not_stop_the_build() -> None:
    states = {DAY.format(11): run("success", "running"), DAY.format(12): run("failed", "upstream_failed")}
    assert builder(DAY.format(11), states) is None


def test_a_scheduled_run_builds_anyway_but_does_not_cover_a_backfills_loads() -> None:
    scheduled = "scheduled__2022-05-13T00:00:00+00:00"
    states = {DAY.format(11): run("success", "running"), scheduled: run("success", "success")}
    assert builder(DAY.format(11), states) is None
    states[scheduled] = run("running")
    assert builder(DAY.format(11), states) == scheduled
