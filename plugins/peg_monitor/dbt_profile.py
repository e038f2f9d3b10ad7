"""Cosmos's Snowflake user/password profile mapping, plus the `protocol` extra.

The same `snowflake_default` connection drives the ingest and dbt; the emulator's connection has
`host`, `port` and `protocol: http` extras (Cosmos maps the first two), real Snowflake has none.
The password goes to dbt as an environment variable, never into a profile file in clear.
"""

from __future__ import annotations

from cosmos.profiles.snowflake.user_pass import SnowflakeUserPasswordProfileMapping


class PegSnowflakeProfileMapping(SnowflakeUserPasswordProfileMapping):
    """SnowflakeUserPasswordProfileMapping that also maps extra.protocol."""

    airflow_param_mapping = {**SnowflakeUserPasswordProfileMapping.airflow_param_mapping, "protocol": "extra.protocol"}
