"""`make demo`'s history: a fresh stack replays the short one, PEG_DEMO_HISTORY_DAYS asks for another
length, a stack that holds one keeps it, and a length the history cannot have is named. Its wait for
the dashboard's first data ends when the dashboard serves it, and names the first day's runs if they
end without it (the dashboard and Airflow's answers injected: the whole demo is run by hand, docs)."""

from __future__ import annotations

import pytest

from devstack import demo
from devstack.chain import stack_history
from devstack.services.processes import ServiceError
from devstack.simulation import history


@pytest.fixture(autouse=True)
def history_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(stack_history, "HISTORY_FILE", tmp_path / "history.json")
    monkeypatch.setattr(stack_history, "HISTORY_LOCK", tmp_path / "history.lock")
    monkeypatch.delenv(demo.HISTORY_DAYS_VARIABLE, raising=False)
    monkeypatch.setattr(demo, "DEMO_DAYS", 14)  # PEG_DEMO_DAYS's default, whatever the environment says


def test_a_fresh_demo_replays_the_short_history_and_a_held_one_is_kept(monkeypatch) -> None:
    assert demo.demo_history().days == history.SHORTEST_DAYS
    stack_history.scenario(history.HISTORY_DAYS)  # the tests ran on this stack since
    assert demo.demo_history().days == history.HISTORY_DAYS
    monkeypatch.setenv(demo.HISTORY_DAYS_VARIABLE, "60")
    assert demo.demo_history().days == 60


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ("sixty", "PEG_DEMO_HISTORY_DAYS='sixty': invalid literal"),
        ("20", f"PEG_DEMO_HISTORY_DAYS='20': history days must be {history.SHORTEST_DAYS}..{history.HISTORY_DAYS}"),
        ("0", f"PEG_DEMO_HISTORY_DAYS='0': history days must be {history.SHORTEST_DAYS}..{history.HISTORY_DAYS}"),
    ],
)
def test_a_history_length_it_cannot_have_is_named(monkeypatch, asked: str, named: str) -> None:
    monkeypatch.setenv(demo.HISTORY_DAYS_VARIABLE, asked)
    with pytest.raises(SystemExit, match=named):
        demo.demo_history()
    assert not stack_history.HISTORY_FILE.exists()


def test_a_fresh_demo_of_more_weeks_gets_a_history_that_holds_them(monkeypatch) -> None:
    monkeypatch.setattr(demo, "DEMO_DAYS", history.SHORTEST_DAYS + 5)
    assert demo.demo_history().days == history.SHORTEST_DAYS + 6


def test_a_held_history_not_longer_than_the_demos_weeks_is_named(monkeypatch) -> None:
    stack_history.scenario(history.SHORTEST_DAYS)
    monkeypatch.setattr(demo, "DEMO_DAYS", history.SHORTEST_DAYS)
    with pytest.raises(
        SystemExit, match=f"holds {history.SHORTEST_DAYS} days, not more than PEG_DEMO_DAYS=.*PEG_DEMO_HISTORY_DAYS"
    ):
        demo.demo_history()


def test_weeks_longer_than_the_whole_history_name_peg_demo_days(monkeypatch) -> None:
    monkeypatch.setattr(demo, "DEMO_DAYS", history.HISTORY_DAYS)
    with pytest.raises(SystemExit, match=f"holds {history.HISTORY_DAYS} days, not more than PEG_DEMO_DAYS"):
        demo.demo_history()


def test_the_wait_for_first_data_ends_when_the_dashboard_serves_it_while_the_run_goes_on(monkeypatch) -> None:
    served = {"feeds": [{"feed_pair": "USDC/USD"}], "data_as_of": "2026-12-07T00:00:00Z"}
    answers = iter([{}, {}, served])
    monkeypatch.setattr(demo, "dashboard_serving", lambda: next(answers))
    monkeypatch.setattr(demo.rest, "run_states", lambda days: dict.fromkeys(days, "running"))
    assert demo.wait_dashboard_data({"2026-12-06"}, timeout=30) == served


def test_first_runs_that_end_while_the_dashboard_serves_nothing_are_named(monkeypatch) -> None:
    monkeypatch.setattr(demo, "dashboard_serving", lambda: {})
    monkeypatch.setattr(demo.rest, "run_states", lambda days: dict.fromkeys(days, "failed"))
    with pytest.raises(
        ServiceError, match=r"the runs \{'2026-12-06': 'failed'\} ended and the dashboard .* serves no data"
    ):
        demo.wait_dashboard_data({"2026-12-06"}, timeout=30, grace=0)


def test_data_served_just_after_the_runs_end_is_waited_for(monkeypatch) -> None:
    """The dashboard re-reads the marts every few seconds: data may show a little after the run ends."""
    served = {"feeds": [{"feed_pair": "USDC/USD"}], "data_as_of": "2026-12-07T00:00:00Z"}
    answers = iter([{}, {}, served])
    monkeypatch.setattr(demo, "dashboard_serving", lambda: next(answers))
    monkeypatch.setattr(demo.rest, "run_states", lambda days: dict.fromkeys(days, "success"))
    assert demo.wait_dashboard_data({"2026-12-06"}, timeout=30, grace=20) == served
