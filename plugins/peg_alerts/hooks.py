"""An AppriseHook that fails when a notification is not delivered.

The provider's `AppriseHook.notify()` drops apprise's result, so a dead receiver looks like a
success. The alerts must fail loudly instead (the transition then stays un-notified and the next
run sends it), so `deliver()` checks the result; the connection is read as the provider reads it
(`config` extra: `{"path": "<apprise URL>", "tag": ...}` or a list of them). Every body starts
with the data label (PEG_DATA_LABEL) if one is set: the local stack's alerts say their data is
SIMULATED (the title stays the alert's, which on-call rules match on). A malformed label never
holds an alert back: the body says what is wrong with it instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.apprise.hooks.apprise import AppriseHook

from peg_monitor.settings import SettingsError, data_label

if TYPE_CHECKING:
    from apprise import NotifyType


class AlertDeliveryError(RuntimeError):
    """Apprise did not deliver a notification to every service of the connection."""


class PegAppriseHook(AppriseHook):
    """AppriseHook plus `deliver()`, which raises AlertDeliveryError unless every service accepted."""

    def deliver(self, *, title: str, body: str, notify_type: NotifyType) -> None:
        import apprise

        try:
            label = data_label()
        except SettingsError as exc:
            label = f"({exc})"
        if label:
            body = f"{label}\n\n{body}"
        services = apprise.Apprise()
        self.set_config_from_conn(conn=self.get_connection(self.apprise_conn_id), apprise_obj=services)
        if not len(services):
            raise AlertDeliveryError(f"connection {self.apprise_conn_id!r} has no apprise URL apprise can use")
        result = services.notify(body=body, title=title, notify_type=notify_type)
        if not result:
            raise AlertDeliveryError(
                f"apprise did not deliver {title!r}: {result.failed_count} of {len(services)} service(s) of "
                f"connection {self.apprise_conn_id!r} failed (status {result.status.name}; apprise's log above "
                "names the HTTP error or refused connection)"
            )
