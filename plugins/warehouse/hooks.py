"""The warehouse's Snowflake hook: the provider's SnowflakeHook that also honours a `protocol` extra.

The provider's hook forwards the `host` and `port` extras but drops `protocol`, which the local
Snowflake emulator needs (`http`). Real Snowflake connections have no such extra and are unchanged.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook


class PegSnowflakeHook(SnowflakeHook):
    """SnowflakeHook plus the `protocol` extra."""

    def _add_network_config(self, conn_config: dict[str, Any], extra_dict: dict[str, Any]) -> None:
        super()._add_network_config(conn_config, extra_dict)
        protocol = extra_dict.get("protocol")
        if protocol:
            if protocol not in ("http", "https"):
                raise ValueError(
                    f"connection {self.get_conn_id()!r}: extra protocol must be http or https, got {protocol!r}"
                )
            conn_config["protocol"] = protocol
