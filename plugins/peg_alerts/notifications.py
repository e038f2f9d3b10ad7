"""The DAGs' failure callback: the apprise provider's AppriseNotifier's message on the alerts'
connection, delivered by `PegAppriseHook`, so a receiver that is down is noticed: the notice then
waits in the outbox (`peg_alerts.outbox`) and the next alert task sends it."""

from __future__ import annotations

from datetime import UTC, datetime
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


def notify_pipeline_failure(context: Context, queue_undelivered: bool = True) -> None:
    """DAG-level on_failure_callback: the provider's AppriseNotifier renders the notice on
    `apprise_default` (built when a run fails, so parsing the DAG file does not import apprise);
    an undelivered notice is queued for the next alert task (`queue_undelivered`)."""
    from airflow.providers.apprise.notifications.apprise import AppriseNotifier
    from apprise import NotifyType

    from peg_alerts.hooks import AlertDeliveryError, PegAppriseHook
    from peg_alerts.outbox import Notice, queue_notice

    notifier = AppriseNotifier(title=FAILURE_TITLE, body=FAILURE_BODY, notify_type=NotifyType.FAILURE)
    notifier.render_template_fields(context)
    hook = PegAppriseHook(apprise_conn_id=notifier.apprise_conn_id)
    try:
        hook.deliver(title=notifier.title, body=notifier.body, notify_type=NotifyType.FAILURE)
    except AlertDeliveryError:
        if not queue_undelivered:
            raise
        queue_notice(Notice(notifier.title, notifier.body, NotifyType.FAILURE.value, datetime.now(UTC).isoformat()))
