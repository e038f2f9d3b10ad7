"""What waits to be delivered, kept in Airflow Variables (the metadata DB, so a warehouse that is down
loses nothing here):

- `peg_alerts_unsent`: set (to the count and since when) while recorded transitions wait unsent,
  deleted by a run that finds none left unsent in the table. The near-real-time trigger wakes its DAG every minute while it
  is set (`NewRoundTrigger.wake_variables`), so pages reach a receiver that comes back within a couple
  of minutes, with no new round.
- `peg_alerts_notices`: the failure notices a failed run could not deliver (the receiver was down), a
  JSON list, one entry per title with a count (while the receiver is down each woken run fails
  too: the on-call gets one notice saying how many, not one per minute); the next alert task sends
  them after the transitions and removes each one sent. Its trigger wakes on it too.

Read-then-write, not atomic: a notice queued by another run in the instant between an alert task's
read and its write can be lost, or sent twice by two alert tasks at once; the transitions, the pages
that matter, are claimed in the warehouse and never are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

UNSENT_VARIABLE = "peg_alerts_unsent"
NOTICES_VARIABLE = "peg_alerts_notices"
WAKE_VARIABLES = [UNSENT_VARIABLE, NOTICES_VARIABLE]


@dataclass(frozen=True)
class Notice:
    """A notification that is not a transition: a failed run's notice."""

    title: str
    body: str
    notify_type: str
    at: str  # ISO-8601, when it was first tried
    count: int = 1  # failures with this title while it waited

    def text(self) -> str:
        """The body, saying how many failures it stands for."""
        if self.count == 1:
            return self.body
        return (
            f"{self.body}\n\n{self.count} runs failed so while the receiver was down; this is the first (at {self.at})."
        )


def flag_unsent(count: int) -> None:
    """Say that `count` transitions wait unsent (the trigger wakes the DAG while this is set;
    `clear_unsent` once the table holds none)."""
    from airflow.sdk import Variable

    Variable.set(UNSENT_VARIABLE, {"count": count, "since": datetime.now(UTC).isoformat()}, serialize_json=True)


def clear_unsent() -> None:
    from airflow.sdk import Variable

    if Variable.get(UNSENT_VARIABLE, None) is not None:
        Variable.delete(UNSENT_VARIABLE)


def queue_notice(notice: Notice) -> None:
    """Keep a notice that could not be delivered, for the next alert task (one with the same title
    already waiting counts it instead)."""
    from airflow.sdk import Variable

    waiting = queued_notices()
    same = next((i for i, n in enumerate(waiting) if n.title == notice.title), None)
    if same is None:
        waiting.append(notice)
    else:
        waiting[same] = replace(waiting[same], count=waiting[same].count + notice.count)
    Variable.set(NOTICES_VARIABLE, [asdict(n) for n in waiting], serialize_json=True)


def queued_notices() -> list[Notice]:
    from airflow.sdk import Variable

    raw = Variable.get(NOTICES_VARIABLE, None)
    return [Notice(**n) for n in (json.loads(raw) if raw else [])]


def keep_notices(notices: list[Notice]) -> None:
    """Leave exactly `notices` queued (none: the Variable is deleted, so the trigger stops waking)."""
    from airflow.sdk import Variable

    if notices:
        Variable.set(NOTICES_VARIABLE, [asdict(n) for n in notices], serialize_json=True)
    elif Variable.get(NOTICES_VARIABLE, None) is not None:
        Variable.delete(NOTICES_VARIABLE)
