"""The DAGs' failure callback: the apprise provider's AppriseNotifier on the alerts' connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Context

FAILURE_TITLE = "[peg monitor] {{ dag_run.dag_id }} failed"
FAILURE_BODY = (
    "DAG run {{ dag_run.run_id }} of {{ dag_run.dag_id }} failed"
    "{% if reason is defined and reason %}: {{ reason }}{% endif %}.\n"
    "Logical date: {{ dag_run.logical_date }}; data interval {{ dag_run.data_interval_start }} to "
    "{{ dag_run.data_interval_end }}.\nSee the failed task's log in the Airflow UI."
)


def notify_pipeline_failure(context: Context) -> None:
    """DAG-level on_failure_callback: the provider's AppriseNotifier on `apprise_default`, built when
    a run fails so parsing the DAG file does not import apprise."""
    from airflow.providers.apprise.notifications.apprise import AppriseNotifier
    from apprise import NotifyType

    AppriseNotifier(title=FAILURE_TITLE, body=FAILURE_BODY, notify_type=NotifyType.FAILURE)(context)
