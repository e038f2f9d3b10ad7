"""Build the marts once per backfill, not once per backfilled day.

dbt rebuilds every mart over the whole loaded history, so in a backfill of N days the N-1 builds
before the last load are wasted (about 14 task start-ups each). `MartsDueOperator` stands between a
run's loads and its dbt group: a scheduled or manual run always builds; a backfill run builds only
when no other run is still to load and no later backfill run is about to build, and otherwise skips
(its dbt tasks, gate and dashboard check are then skipped, the run is still green). The build that
happens comes after every load of the backfill, so the marts equal loading the days in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context

BACKFILL_RUN_PREFIX = "backfill__"  # Airflow's run id for a backfill's runs (DagRunType.BACKFILL_JOB)
FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# A guard in one of these has not looked yet: when it does, it sees every load finished so far.
NOT_STARTED = frozenset({None, "scheduled", "queued", "up_for_retry", "up_for_reschedule"})
ACTIVE_RUN_STATES = ("queued", "running")


def who_builds(
    run_id: str,
    guard_task_id: str,
    load_task_ids: Sequence[str],
    task_states: Mapping[str, Mapping[str, str | None]],
    is_active: Callable[[str], bool],
) -> str | None:
    """The active run that will build (or is building) the marts instead of `run_id`, or None if
    `run_id` must build them itself.

    `task_states` is {run id: {task id: state}} of the loads and the guard over the DAG's runs;
    `is_active` tells whether a run is still queued or running (asked only of the few candidates).
    Another active run defers `run_id` when it still has a load to finish (its own guard comes
    later), when it is a backfill run whose guard already decided to build (it saw `run_id`'s loads
    done), or when it is a later backfill run whose guard has not started (it will see them done).
    A guard running at the same time may already have looked: not deferring to it can build twice,
    never not at all.
    """
    for other in sorted(set(task_states) - {run_id}, reverse=True):
        states = task_states[other]
        loading = any(states.get(t) not in FINISHED for t in load_task_ids)
        guard = states.get(guard_task_id)
        backfill = other.startswith(BACKFILL_RUN_PREFIX)  # other runs build anyway, without checking
        building = backfill and (guard == "success" or (guard in NOT_STARTED and other > run_id))
        if (loading or building) and is_active(other):
            return other
    return None


class MartsDueOperator(BaseOperator):
    """Skip the dbt group of a backfill run whose marts another run of the backfill will build."""

    ui_color = "#e8f0fe"

    def __init__(self, *, load_task_ids: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.load_task_ids = list(load_task_ids)

    def execute(self, context: Context) -> None:
        run = context["dag_run"]
        if run.run_type != "backfill":
            return
        ti = context["ti"]
        if ti.get_dr_count(dag_id=self.dag_id, states=["queued"]):
            self._skip("a queued run of this DAG loads later and builds them then")
        states = ti.get_task_states(dag_id=self.dag_id, task_ids=[*self.load_task_ids, self.task_id])
        builder = who_builds(
            run.run_id,
            self.task_id,
            self.load_task_ids,
            states,
            lambda other: ti.get_dagrun_state(dag_id=self.dag_id, run_id=other) in ACTIVE_RUN_STATES,
        )
        if builder:
            self._skip(f"{builder} builds them after every load")
        self.log.info("No other run of the backfill is still to load or to build: building the marts.")

    def _skip(self, why: str) -> None:
        self.log.info("Backfill: the marts are built once; %s. Skipping dbt, the gate and the check here.", why)
        raise AirflowSkipException(f"backfill: {why}")
